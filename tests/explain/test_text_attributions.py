"""Word attributions, checked for real: a tiny BERT classifier trained on texts whose class
words decide the label gives its top attribution to a class word."""

import numpy as np
import pytest
import tensorflow as tf

import tl_suite
from tl_suite.backbones.text import tiny_bert_spec
from tl_suite.explain.explain import explain
from tl_suite.explain.words import pieces_to_words, standardized, terms_to_words

CLASS_WORDS = {"sports": ["goal", "match", "team", "striker"],
               "business": ["market", "shares", "profit", "bank"]}
FILLER = ["the", "a", "today", "new", "report", "said", "after", "week", "people", "city", "very"]
VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sum(CLASS_WORDS.values(), []), *FILLER]
NAMES = ["sports", "business"]


def corpus(count, seed):
    """Filler words with one or two words of the text's class at random places."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for index in range(count):
        label = NAMES[index % 2]
        words = list(rng.choice(FILLER, size=rng.integers(4, 9)))
        for _ in range(rng.integers(1, 3)):
            words.insert(rng.integers(0, len(words) + 1), rng.choice(CLASS_WORDS[label]))
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


def train(tmp_path_factory, unfreeze_learning_rate=None, epochs=20, **build):
    tf.keras.utils.set_random_seed(0)
    texts, labels = corpus(160, seed=0)
    data = tl_suite.text_dataset(texts=texts, labels=labels, class_names=NAMES, batch_size=16,
                                 verbose=False)
    model = tl_suite.build_text_classifier(tiny_bert_spec(VOCABULARY, hidden_dim=16),
                                           class_names=NAMES, weights=None, seed=0, **build)
    if unfreeze_learning_rate:
        tl_suite.unfreeze(model, learning_rate=unfreeze_learning_rate)
    tl_suite.fit(model, data, epochs=epochs, log_dir=str(tmp_path_factory.mktemp("logs")),
                 verbose=0, early_stopping_patience=None)
    return model


@pytest.fixture(scope="module")
def wide_model(tmp_path_factory):
    """The default text model: frozen encoder + TF-IDF branch, head trained (~10 s)."""
    return train(tmp_path_factory)


@pytest.fixture(scope="module")
def encoder_model(tmp_path_factory):
    """No TF-IDF branch, the whole tiny encoder trained (~8 s), so the evidence flows through
    the token embeddings alone."""
    return train(tmp_path_factory, unfreeze_learning_rate=3e-3, epochs=6, wide_tokens=None)


def _top_word(result):
    return result["words"][int(np.argmax(result["attributions"]))]


def test_top_words_of_confident_predictions_are_class_words(wide_model, encoder_model):
    texts, labels = corpus(12, seed=1)
    for model, confident in ((wide_model, 0.7), (encoder_model, 0.9)):
        results = explain(model, texts, steps=64)
        sure = [r for r in results if r["probability"] > confident]
        print(model.branches, [(r["label"], round(r["probability"], 3), _top_word(r)) for r in results])
        assert len(sure) >= 6
        assert all(_top_word(r) in CLASS_WORDS[r["label"]] for r in sure)
        assert sum(r["label"] == label for r, label in zip(results, labels)) >= 10


def test_attributions_add_up_and_cover_both_branches(wide_model, encoder_model):
    text = "the team said a goal today"
    (result,) = explain(wide_model, text, steps=128)
    assert result["words"] == text.split() and len(result["attributions"]) == 6
    np.testing.assert_allclose(result["attributions"],
                               result["encoder_attributions"] + result["tf_idf_attributions"])
    change = result["score"] - result["baseline_score"]
    assert abs(result["delta"]) < 0.02 + 0.02 * abs(change)
    assert result["attributions"].sum() == pytest.approx(change + result["delta"], abs=1e-4)
    assert dict(result["terms"])["goal"] > 0 and result["truncated_words"] == 0
    assert np.abs(result["tf_idf_attributions"]).max() > 0
    probability = wide_model.predict([text], verbose=0)[0, NAMES.index(result["label"])]
    assert result["probability"] == pytest.approx(probability, rel=1e-4)
    (alone,) = explain(encoder_model, text)
    assert not alone["tf_idf_attributions"].any() and alone["terms"] == []


def test_words_past_the_sequence_length_get_tf_idf_evidence_only(tmp_path_factory):
    model = train(tmp_path_factory, epochs=3, sequence_length=8)
    words = "the a people city week very said team goal".split()
    (result,) = explain(model, " ".join(words), steps=16)
    assert result["truncated_words"] == 3  # [CLS] + 6 pieces + [SEP] = 8
    assert not result["encoder_attributions"][6:].any() and result["tf_idf_attributions"][6:].any()


def test_target_and_figure(wide_model, tmp_path):
    (result,) = explain(wide_model, "the market said profit", target="sports", log_dir=str(tmp_path))
    assert result["label"] == "sports" and result["predicted"] == "business"
    assert result["attributions"][result["words"].index("profit")] < 0  # evidence against sports
    words = [text.get_text() for text in result["figure"].axes[0].texts]
    assert words == ["the", "market", "said", "profit"]
    assert list(tmp_path.rglob("events.out.tfevents.*"))


def test_word_helpers_merge_pieces_and_spread_terms():
    assert pieces_to_words(np.array([0.0, 1.0, 2.0, 4.0, 0.0]), [2, 1, 3]).tolist() == [3.0, 4.0, 0.0]
    assert standardized(["Don't!", "--", "U.S."]) == ["dont", "", "us"]
    values, terms = terms_to_words(["Big", "--", "goal"], ["[UNK]", "big", "goal", "big goal"],
                                   np.array([0.0, 1.0, 2.0, 3.0]))
    assert values.tolist() == [2.5, 0.0, 3.5]  # the pair skips the punctuation, as TF-IDF does
    assert terms[0] == ("big goal", 3.0)


def test_text_explanations_refuse_pairs_and_windows(wide_model):
    with pytest.raises(ValueError, match=r"not text pairs"):
        explain(wide_model, [("the goal", "a bank")])
    windowed = tl_suite.build_text_classifier(tiny_bert_spec(VOCABULARY), num_classes=2,
                                              weights=None, max_windows=2, wide_tokens=None)
    with pytest.raises(ValueError, match=r"Received: a model with max_windows=2"):
        explain(windowed, "the goal")
