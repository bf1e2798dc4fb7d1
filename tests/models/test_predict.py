"""`tl_suite.predict` rows per task, and its errors."""

import keras
import numpy as np
import pytest

import tl_suite
from tl_suite.models.decoding import decode_tags

IMAGES = np.random.default_rng(2).integers(0, 256, size=(4, 24, 28, 3)).astype("uint8")


def _outputs(model, inputs):
    """What ``model.predict(inputs)`` returns, without tracing a tf.data pipeline (fast)."""
    x, _ = model.prepare(model.preprocessor.coerce(inputs))
    return keras.ops.convert_to_numpy(model(x))


def test_classification_rows_hold_the_top_k_labels_in_order(built_models):
    model = built_models("image_classification")
    outputs = model.predict(IMAGES, verbose=0)
    rows = tl_suite.predict(model, IMAGES, top_k=2)
    assert len(rows) == 4 and "input" not in rows[0]
    for row, scores in zip(rows, outputs):
        order = np.argsort(-scores)
        assert row["top_labels"] == [model.class_names[i] for i in order[:2]]
        np.testing.assert_allclose(row["top_probabilities"], scores[order[:2]], rtol=1e-6)
        assert row["label"] == row["top_labels"][0]
        assert row["probability"] == row["top_probabilities"][0] == max(scores)
        assert row["top_probabilities"][0] >= row["top_probabilities"][1]
    every = tl_suite.predict(model, IMAGES, top_k=10)  # more than the classes: all of them
    assert all(len(row["top_labels"]) == 3 for row in every)
    assert [sum(row["top_probabilities"]) for row in every] == pytest.approx([1.0] * 4, abs=1e-5)


def test_multi_label_rows_hold_the_labels_above_the_threshold(built_models):
    model = built_models("image_multi_label")
    outputs = model.predict(IMAGES, verbose=0)
    threshold = float(np.median(outputs))
    rows = tl_suite.predict(model, IMAGES, threshold=threshold)
    for row, scores in zip(rows, outputs):
        assert row["labels"] == [n for n, s in zip(model.class_names, scores) if s >= threshold]
        assert list(row["probabilities"]) == model.class_names
        np.testing.assert_allclose(list(row["probabilities"].values()), scores, rtol=1e-6)
    assert sum(len(row["labels"]) for row in rows) == int((outputs >= threshold).sum()) > 0
    assert all(row["labels"] == [] for row in tl_suite.predict(model, IMAGES, threshold=1.01))
    assert all(row["labels"] == model.class_names
               for row in tl_suite.predict(model, IMAGES, threshold=0.0))


def test_regression_rows_hold_values_by_output_name(built_models):
    model = built_models("image_regression")
    outputs = model.predict(IMAGES, verbose=0)
    rows = tl_suite.predict(model, IMAGES)
    assert [list(row) for row in rows] == [["brightness", "redness"]] * 4
    np.testing.assert_allclose([[row["brightness"], row["redness"]] for row in rows], outputs,
                               rtol=1e-6)


def test_one_unnamed_regression_output_is_a_value(text_spec):
    model = tl_suite.build_text_regressor(text_spec, weights=None, seed=0)
    rows = tl_suite.predict(model, ["good film", "bad"])
    outputs = _outputs(model, ["good film", "bad"])
    assert [set(row) for row in rows] == [{"input", "value"}] * 2
    np.testing.assert_allclose([row["value"] for row in rows], outputs[:, 0], rtol=1e-5, atol=1e-6)


def test_text_rows_name_their_input_single_string_and_pairs(built_models):
    model = built_models("text_classifier")
    one = tl_suite.predict(model, "good film")
    assert [row["input"] for row in one] == ["good film"]
    expected = np.sort(_outputs(model, ["good film"])[0])[::-1]
    np.testing.assert_allclose(one[0]["top_probabilities"], expected, rtol=1e-5, atol=1e-6)
    pairs = tl_suite.predict(model, [("good", "bad film"), ("bad", "paris")])
    assert [row["input"] for row in pairs] == [("good", "bad film"), ("bad", "paris")]
    assert all(row["label"] in ("negative", "positive") for row in pairs)
    one_pair = tl_suite.predict(model, ("good", "bad film"))
    assert len(one_pair) == 1 and one_pair[0]["input"] == ("good", "bad film")
    assert one_pair[0]["top_probabilities"] == pytest.approx(pairs[0]["top_probabilities"], abs=1e-5)


def test_text_pairs_are_not_the_same_as_the_texts_joined(built_models):
    model = built_models("text_classifier")
    pair = _outputs(model, [("good film", "bad")])
    joined = _outputs(model, ["good film bad"])
    assert not np.allclose(pair, joined, atol=1e-6)  # segment ids and the middle [SEP] count


def test_token_rows_have_one_tag_per_word(built_models):
    model = built_models("token_classifier")
    rows = tl_suite.predict(model, ["paris is big", ["london", "is", "rainy", "zzz"]])
    assert [row["words"] for row in rows] == [["paris", "is", "big"],
                                              ["london", "is", "rainy", "zzz"]]
    assert [len(row["tags"]) for row in rows] == [3, 4]
    assert all(tag in model.tag_names for row in rows for tag in row["tags"])
    assert tl_suite.predict(model, "paris is big") == rows[:1]  # a single sentence
    # The tags decode the model's output on each word's first piece: by default the best
    # sequence BIO allows, with decoding="argmax" each word's most likely tag.
    x, word_ids, _ = model.preprocessor.align(np.array(["paris is big"]))
    first_pieces = np.flatnonzero(np.asarray(word_ids)[0] >= 0)
    probabilities = keras.ops.convert_to_numpy(model(x))[0, first_pieces]
    assert rows[0]["tags"] == decode_tags(probabilities, model.tag_names)
    argmax = tl_suite.predict(model, "paris is big", decoding="argmax")
    assert argmax[0]["tags"] == [model.tag_names[i] for i in probabilities.argmax(axis=-1)]


def _biased_token_classifier(text_spec, bias, sequence_length=128):
    """A tagger over ["O", "B-loc", "I-loc"] whose output bias is ``bias`` (zero kernel), so
    every word gets the same known probabilities."""
    model = tl_suite.build_token_classifier(text_spec, tags=["O", "B-loc", "I-loc"], weights=None,
                                            sequence_length=sequence_length, seed=0)
    kernel, _ = model.head.get_layer("predictions").get_weights()
    model.head.get_layer("predictions").set_weights([np.zeros_like(kernel), np.asarray(bias, "float32")])
    return model


def test_predicted_tags_never_break_bio_unless_argmax_is_asked_for(text_spec):
    # Every word: I-loc .5, O .3, B-loc .2. Argmax tags every word I-loc (invalid after
    # nothing); the best valid sequence opens the entity with B-loc and continues it.
    model = _biased_token_classifier(text_spec, np.log([0.3, 0.2, 0.5]))
    assert tl_suite.predict_tags(model, ["paris is big"], decoding="argmax") == [["I-loc"] * 3]
    assert tl_suite.predict_tags(model, ["paris is big"]) == [["B-loc", "I-loc", "I-loc"]]
    rows = tl_suite.predict(model, ["paris is big"], decoding="argmax")
    assert rows[0]["tags"] == ["I-loc"] * 3
    with pytest.raises(ValueError, match="Received: decoding='best'"):
        tl_suite.predict_tags(model, ["paris is big"], decoding="best")
    with pytest.raises(ValueError, match="Received: decoding='best'"):
        tl_suite.predict(model, ["paris is big"], decoding="best")


def test_a_long_sentence_is_decoded_across_its_windows(text_spec):
    # One entity across a window boundary stays one entity: the second window continues it.
    model = _biased_token_classifier(text_spec, np.log([0.3, 0.2, 0.5]), sequence_length=8)
    sentence = "the quick brown fox jumped " * 3
    tags = tl_suite.predict_tags(model, [sentence])[0]
    assert len(tags) == 15 and tags == ["B-loc"] + ["I-loc"] * 14


def test_predict_tags_returns_one_tag_per_word_even_for_long_sentences(text_spec):
    model = tl_suite.build_token_classifier(text_spec, tags=["O", "B-loc", "I-loc"], weights=None,
                                            sequence_length=8)
    sentences = ["paris is big", "the quick brown fox jumped " * 5, [], ["zzz", "jumps"]]
    predicted = tl_suite.predict_tags(model, sentences)
    assert [len(p) for p in predicted] == [3, 25, 0, 2]
    assert all(tag in model.tags for tags in predicted for tag in tags)
    # A window holds whole words: each word's probabilities are those of its window alone.
    windows = tl_suite.predict_tags(model, ["the quick brown fox jumped", "the quick brown"],
                                    decoding="argmax")
    assert tl_suite.predict_tags(model, sentences[1:2], decoding="argmax")[0][:5] == windows[0]


def test_non_tl_suite_model_is_refused():
    inputs = keras.Input((3,))
    plain = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    with pytest.raises(ValueError, match="tl_suite builder.*Received: model=Functional"):
        tl_suite.predict(plain, np.zeros((1, 3)))
    with pytest.raises(ValueError, match="Received: model=Functional"):
        tl_suite.predict_tags(plain, ["a b"])


def test_predict_tags_needs_a_token_classifier(built_models):
    with pytest.raises(ValueError, match="build_token_classifier.*Received: a classification"):
        tl_suite.predict_tags(built_models("text_classifier"), ["good film"])


@pytest.mark.parametrize("top_k", [0, -1, 1.5, "3", None])
def test_bad_top_k_is_refused(built_models, top_k):
    with pytest.raises(ValueError, match=f"Received: top_k={top_k!r}"):
        tl_suite.predict(built_models("image_classification"), IMAGES, top_k=top_k)


def test_unreadable_image_path_names_the_file(built_models, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    model = built_models("image_classification")
    with pytest.raises(ValueError, match=r"broken\.jpg.*Received: inputs\[1\]"):
        tl_suite.predict(model, [IMAGES[0], str(broken)])
    with pytest.raises(ValueError, match=r"missing\.png"):
        tl_suite.predict(model, str(tmp_path / "missing.png"))


def test_images_scaled_to_unit_range_are_refused(built_models):
    with pytest.raises(ValueError, match=r"scaled to \[0, 1\].*\* 255"):
        tl_suite.predict(built_models("image_classification"), IMAGES / 255.0)
