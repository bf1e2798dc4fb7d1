"""Entity attributions of a tagger, checked for real: a tiny BERT tagger trained on sentences
whose names are people and places finds its entities in the entities' own words."""

import numpy as np
import pytest
import tensorflow as tf

import tl_suite
from tl_suite.backbones.text import tiny_bert_spec
from tl_suite.explain.explain import explain

PEOPLE = ["john", "mary", "ahmed", "lena"]
PLACES = [["paris"], ["london"], ["new", "york"], ["tokyo"]]
TEMPLATES = [["{per}", "lives", "in", "{loc}"], ["{per}", "said", "{loc}", "is", "big"],
             ["we", "met", "{per}", "near", "{loc}", "today"]]
VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *PEOPLE, *sum(PLACES, []),
              "lives", "in", "said", "is", "big", "we", "met", "near", "today"]
TAGS = ["O", "B-per", "I-per", "B-loc", "I-loc"]


def sentences(count, seed):
    rng = np.random.default_rng(seed)
    words, tags = [], []
    for index in range(count):
        person, place = PEOPLE[rng.integers(len(PEOPLE))], PLACES[rng.integers(len(PLACES))]
        sentence, sentence_tags = [], []
        for slot in TEMPLATES[index % len(TEMPLATES)]:
            if slot == "{per}":
                sentence.append(person)
                sentence_tags.append("B-per")
            elif slot == "{loc}":
                sentence += place
                sentence_tags += ["B-loc"] + ["I-loc"] * (len(place) - 1)
            else:
                sentence.append(slot)
                sentence_tags.append("O")
        words.append(sentence)
        tags.append(sentence_tags)
    return words, tags


@pytest.fixture(scope="module")
def tagger(tmp_path_factory):
    """The whole tiny tagger trained (~16 s; its frozen random base alone tags 10 of 12)."""
    tf.keras.utils.set_random_seed(0)
    words, tags = sentences(120, seed=0)
    data = tl_suite.token_dataset(sentences=words, tags=tags, tag_names=TAGS, batch_size=16,
                                  verbose=False)
    model = tl_suite.build_token_classifier(tiny_bert_spec(VOCABULARY, hidden_dim=16), tags=TAGS,
                                            weights=None, seed=0)
    tl_suite.unfreeze(model, learning_rate=1e-2)
    tl_suite.fit(model, data, epochs=6, log_dir=str(tmp_path_factory.mktemp("logs")), verbose=0,
                 early_stopping_patience=None)
    return model


def test_each_entity_is_found_in_its_own_words(tagger, tmp_path):
    words, tags = sentences(6, seed=1)
    results = explain(tagger, words, steps=64, log_dir=str(tmp_path))
    for result, truth in zip(results, tags):
        assert result["tags"] == truth
        assert [entity["type"] for entity in result["entities"]] == ["per", "loc"]
        for entity in result["entities"]:
            attributions = entity["attributions"]
            assert attributions.shape == (len(result["words"]),)
            assert entity["start"] <= int(np.argmax(attributions)) < entity["end"]
            assert entity["text"] == " ".join(result["words"][entity["start"]:entity["end"]])
            assert 0.5 < entity["probability"] <= 1.0
            change = entity["score"] - entity["baseline_score"]
            assert attributions.sum() == pytest.approx(change + entity["delta"], abs=1e-4)
            assert abs(entity["delta"]) < 0.05 + 0.05 * abs(change)
    captions = [t.get_text() for t in results[0]["figure"].axes[0].texts]
    assert captions[0] == "predicted tags" and any(c.startswith("per: ") for c in captions)
    assert len(list(tmp_path.rglob("events.out.tfevents.*"))) >= 1


def test_sentences_as_strings_and_without_entities(tagger):
    (result,) = explain(tagger, "we met near today")
    assert result["words"] == ["we", "met", "near", "today"] and result["entities"] == []
    assert result["tags"] == tl_suite.predict_tags(tagger, ["we met near today"])[0]
    with pytest.raises(ValueError, match=r"Received: target='per'"):
        explain(tagger, "john lives in paris", target="per")
