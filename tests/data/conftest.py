"""Fixtures of the data tests: a tiny BERT vocabulary and spec (no network)."""

import pytest

from tl_suite.backbones import text as text_backbones

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox", "jump",
              "##s", "##ed", "paris", "is", "big", "good", "bad", "film", "a", "b", "c", "d"]


@pytest.fixture
def spec():
    return text_backbones.tiny_bert_spec(VOCABULARY)
