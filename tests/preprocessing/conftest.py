"""A tiny word-piece vocabulary and its tokenizer for the text preprocessing tests."""

import pytest

from tl_suite.backbones.text import tiny_bert_spec

# Ids: [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4, the 5, quick 6, brown 7, fox 8, jump 9,
# ##s 10, ##ed 11, paris 12, is 13, big 14, london 15, rain 16, ##y 17, good 18, bad 19, film 20.
VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox", "jump",
              "##s", "##ed", "paris", "is", "big", "london", "rain", "##y", "good", "bad", "film"]


@pytest.fixture(scope="session")
def tokenizer():
    return tiny_bert_spec(VOCABULARY).tokenizer()
