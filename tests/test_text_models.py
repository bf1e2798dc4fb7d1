import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import tl_suite
from tl_suite.backbones import text as text_backbones
from tl_suite.text_models import MaskedMeanPooling, TokenClassifierPreprocessor

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox", "jump",
              "##s", "##ed", "paris", "is", "big", "london", "rain", "##y", "good", "bad", "film"]


@pytest.fixture
def spec():
    return text_backbones.tiny_bert_spec(VOCABULARY)


def test_word_piece_alignment_labels_first_piece_only(spec):
    preprocessor = TokenClassifierPreprocessor(spec.tokenizer(), sequence_length=16)
    words = tf.ragged.constant([["paris", "jumps"], ["fox", "jumped", "zzz"]])
    tags = tf.ragged.constant([[1, 0], [0, 0, 1]])
    x, word_ids, labels = preprocessor.align(words, tags)
    cls, sep, jump, s, ed, unk = 2, 3, 9, 10, 11, 1
    np.testing.assert_array_equal(x["token_ids"][0][:5], [cls, 12, jump, s, sep])
    np.testing.assert_array_equal(x["token_ids"][1][:6], [cls, 8, jump, ed, unk, sep])
    np.testing.assert_array_equal(word_ids[0][:5], [-1, 0, 1, -1, -1])
    np.testing.assert_array_equal(labels[0][:5], [-1, 1, 0, -1, -1])  # "##s" masked out
    np.testing.assert_array_equal(labels[1][:6], [-1, 0, 0, -1, 1, -1])
    assert x["token_ids"].shape[1] == 6  # dynamic padding: longest sentence, not 16


def test_word_that_tokenizes_to_nothing_still_gets_a_position(spec):
    preprocessor = TokenClassifierPreprocessor(spec.tokenizer(), sequence_length=16)
    x, word_ids, _ = preprocessor.align(tf.ragged.constant([["paris", "\x00", "big"]]))
    assert sorted(w for w in word_ids.numpy()[0] if w >= 0) == [0, 1, 2]


def test_predict_tags_returns_one_tag_per_word_even_for_long_sentences(spec):
    model = tl_suite.build_token_classifier(spec, tags=["O", "B-loc", "I-loc"], weights=None,
                                            sequence_length=8)
    sentences = ["paris is big", "the quick brown fox jumped " * 5, [], ["zzz", "jumps"]]
    predicted = tl_suite.predict_tags(model, sentences)
    assert [len(p) for p in predicted] == [3, 25, 0, 2]
    assert all(tag in model.tags for tags in predicted for tag in tags)


def test_masked_mean_pooling_ignores_padding():
    sequence = np.array([[[1.0, 2.0], [3.0, 4.0], [100.0, -100.0]]], dtype="float32")
    mask = np.array([[True, True, False]])
    pooled = keras.ops.convert_to_numpy(MaskedMeanPooling()(sequence, mask))
    np.testing.assert_allclose(pooled, [[2.0, 3.0]])


def test_prediction_does_not_depend_on_batch_padding(spec):
    model = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, seed=1)
    alone = model.predict(["good film"], verbose=0)
    with_long = model.predict(["good film", "the quick brown fox jumped " * 6], verbose=0)
    np.testing.assert_allclose(alone[0], with_long[0], rtol=1e-5, atol=1e-6)


def test_spec_pooling_defaults_and_overrides(spec):
    assert tl_suite.get_backbone("minilm_l6").pooling == "mean"
    assert text_backbones.preset_spec("bert_base_en_uncased").pooling == "pooler"
    for pooling, layer_type in [("mean", MaskedMeanPooling), ("cls", text_backbones_cls()),
                                ("pooler", keras.layers.Identity)]:
        model = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, pooling=pooling)
        assert isinstance(model.get_layer("pool"), layer_type)
    with pytest.raises(ValueError, match="Received: pooling='max'"):
        tl_suite.build_text_classifier(spec, num_classes=2, weights=None, pooling="max")


def text_backbones_cls():
    from tl_suite.text_models import ClsPooling
    return ClsPooling


def test_only_head_trains_and_tasks_have_the_right_outputs(spec):
    model = tl_suite.build_text_classifier(spec, num_classes=3, weights=None)
    head_ids = {id(w) for w in model.get_layer("head").trainable_weights}
    assert model.trainable_weights and all(id(w) in head_ids for w in model.trainable_weights)
    probabilities = model.predict(["good film", "bad"], verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    multi = tl_suite.build_text_classifier(spec, num_classes=3, multi_label=True, weights=None)
    assert multi.loss == "binary_crossentropy"
    regressor = tl_suite.build_text_regressor(spec, num_outputs=2, weights=None)
    assert regressor.predict(["good"], verbose=0).shape == (1, 2)
    assert tl_suite.models.infer_task(regressor) == "regression"


def test_frozen_text_fit_changes_only_the_head(spec, tmp_path):
    model = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, learning_rate=5e-2, seed=0)
    base_before = [np.array(w) for w in model.backbone.weights]
    data = tl_suite.text_dataset(texts=["good film", "bad film", "good", "bad"] * 6,
                                 labels=[1, 0, 1, 0] * 6, batch_size=8, verbose=False)
    history = tl_suite.fit(model, data, epochs=15, log_dir=str(tmp_path), verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    for before, after in zip(base_before, model.backbone.weights):
        np.testing.assert_array_equal(before, np.array(after))


@pytest.mark.parametrize("kind", ["classifier", "tagger"])
def test_saved_text_models_reload_and_predict_identically(spec, tmp_path, kind):
    if kind == "classifier":
        model = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, hidden_units=(4,))
        texts = ["good film", "the quick brown fox"]
        expected = model.predict(texts, verbose=0)
    else:
        model = tl_suite.build_token_classifier(spec, tags=["O", "B-loc"], weights=None)
        texts = ["paris is big", "london is rainy"]
        expected = tl_suite.predict_tags(model, texts)
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    if kind == "classifier":
        np.testing.assert_allclose(reloaded.predict(texts, verbose=0), expected, rtol=1e-6)
    else:
        assert tl_suite.predict_tags(reloaded, texts) == expected
        assert reloaded.tags == ["O", "B-loc"]


def test_unfreeze_top_transformer_layers(spec):
    model = tl_suite.build_text_classifier(spec, num_classes=2, weights=None)
    opened = tl_suite.unfreeze(model, layers=1, learning_rate=1e-4)
    assert any("transformer_layer_1" in name for name in opened)
    assert not any("transformer_layer_0" in name or "embedding" in name for name in opened)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-4)
    trainable = {id(w) for w in model.trainable_weights}
    assert {id(w) for w in model.backbone.get_layer("transformer_layer_1").weights} <= trainable


def test_hub_preset_offline_fails_at_once_naming_local_alternatives(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("Failed to resolve 'www.kaggle.com'")

    monkeypatch.setattr(keras_hub.models.Backbone, "from_preset", offline)
    with pytest.raises(RuntimeError) as info:
        tl_suite.build_text_classifier("bert_tiny_en_uncased", num_classes=2)
    assert "minilm_l6" in str(info.value) and "local" in str(info.value)


def test_local_keras_hub_folder_loads(spec, tmp_path):
    backbone, tokenizer = spec.load(None)
    backbone.save_to_preset(str(tmp_path))
    tokenizer.save_to_preset(str(tmp_path))
    folder_spec = tl_suite.get_backbone(str(tmp_path))
    assert folder_spec.pooling == "pooler" and folder_spec.offline_weights
    model = tl_suite.build_text_classifier(str(tmp_path), num_classes=2)
    np.testing.assert_array_equal(
        np.array(model.backbone.get_layer("token_embedding").embeddings),
        np.array(backbone.get_layer("token_embedding").embeddings),
    )


@pytest.mark.parametrize("arguments, message", [
    ({"num_classes": 1}, "Received: num_classes=1"),
    ({"num_classes": 2, "sequence_length": 4}, "Received: sequence_length=4"),
    ({"num_classes": 2, "sequence_length": 1000}, "at most 512 tokens"),
    ({"num_classes": 2, "weights": "imagenet"}, "Received: weights='imagenet'"),
])
def test_text_builder_validates_arguments(spec, arguments, message):
    with pytest.raises(ValueError, match=message):
        tl_suite.build_text_classifier(spec, **{"weights": None, **arguments})


def test_image_backbone_for_text_is_a_clear_error():
    with pytest.raises(ValueError, match="is an image backbone"):
        tl_suite.build_text_classifier("efficientnet_lite0", num_classes=2)


def test_real_minilm_embeddings_put_similar_sentences_together():
    backbone, tokenizer = text_backbones.load_text_backbone(tl_suite.get_backbone("minilm_l6"))
    preprocessor = tl_suite.text_models.TextPreprocessor(tokenizer, sequence_length=32)
    x = preprocessor(tf.constant(["A cat sits on the mat.", "A kitten is sitting on a rug.",
                                  "Stock markets fell sharply today."]))
    pooled = MaskedMeanPooling()(backbone(x)["sequence_output"], x["padding_mask"])
    vectors = keras.ops.convert_to_numpy(pooled)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_windowed_preprocessor_splits_long_texts_into_packed_windows(spec):
    from tl_suite.text_models import WindowedTextPreprocessor

    preprocessor = WindowedTextPreprocessor(spec.tokenizer(), sequence_length=6, max_windows=3)
    cls, sep = 2, 3
    x = preprocessor(tf.constant(["good", "the quick brown fox paris is big", "",
                                  " ".join(["rain"] * 20)]))
    ids, mask = x["token_ids"].numpy(), x["padding_mask"].numpy()
    assert ids.shape == (4, 3, 6)  # 3 windows: the most any text of the batch has
    np.testing.assert_array_equal(ids[0, 0], [cls, 18, sep, 0, 0, 0])
    assert not mask[0, 1:].any()  # a short text gets one window, the rest is padding
    # 7 pieces -> windows of 4 + 3, each with its own [CLS] ... [SEP].
    np.testing.assert_array_equal(ids[1, 0], [cls, 5, 6, 7, 8, sep])
    np.testing.assert_array_equal(ids[1, 1], [cls, 12, 13, 14, sep, 0])
    np.testing.assert_array_equal(ids[2, 0], [cls, sep, 0, 0, 0, 0])  # empty text: one empty window
    assert mask[3].sum() == 3 * 6  # 20 pieces: 3 full windows, the last 8 pieces dropped
    short = preprocessor(tf.constant(["good", "bad film"]))
    assert short["token_ids"].shape == (2, 1, 4)  # dynamic padding: one window, 4 positions


def test_windowed_model_averages_the_vectors_of_its_windows(spec):
    windowed = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, sequence_length=8,
                                              max_windows=3, seed=0)
    single = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, sequence_length=8, seed=0)
    single.set_weights(windowed.get_weights())

    def features(model, texts):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(model.preprocessor(tf.constant(texts)))
        return keras.Model(model.inputs, model.get_layer("pool").output)(x).numpy()

    long_text = "the quick brown fox paris is big"
    expected = features(single, ["the quick brown fox paris is", "big"]).mean(axis=0)  # 6 + 1 pieces
    np.testing.assert_allclose(features(windowed, [long_text])[0], expected, atol=1e-6)
    # Padding windows (from a longer text in the same batch) never change a prediction.
    alone = windowed.predict(["good film"], verbose=0)
    batched = windowed.predict(["good film", " ".join(["rain"] * 12)], verbose=0)
    np.testing.assert_allclose(batched[0], alone[0], atol=1e-6)


def test_windowed_model_trains_cached_and_unfrozen_and_reloads(spec, tmp_path):
    model = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, sequence_length=8,
                                           max_windows=3, learning_rate=5e-2, seed=0)
    assert model.jit_compile is False  # windows are picked with data-dependent shapes
    texts = ["good film " * 4, "bad film " * 4, "good", "bad"] * 6
    data = tl_suite.text_dataset(texts=texts, labels=[1, 0, 1, 0] * 6, batch_size=8, verbose=False)
    history = tl_suite.fit(model, data, epochs=10, log_dir=str(tmp_path / "frozen"), verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    tl_suite.unfreeze(model, learning_rate=1e-3)
    before = np.array(model.backbone.get_layer("transformer_layer_1").weights[0])
    tl_suite.fit(model, data, epochs=1, log_dir=str(tmp_path / "unfrozen"), verbose=0)
    assert not np.allclose(before, np.array(model.backbone.get_layer("transformer_layer_1").weights[0]))
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    assert reloaded.max_windows == 3
    np.testing.assert_allclose(reloaded.predict(texts[:4], verbose=0), model.predict(texts[:4], verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_windowed_model_refuses_xla_and_token_id_datasets(spec, tmp_path):
    with pytest.raises(ValueError, match="Received: jit_compile=True"):
        tl_suite.build_text_classifier(spec, num_classes=2, weights=None, max_windows=2, jit_compile=True)
    with pytest.raises(ValueError, match="Received: max_windows=0"):
        tl_suite.build_text_classifier(spec, num_classes=2, weights=None, max_windows=0)
    model = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, max_windows=2)
    tokenized = tl_suite.text_dataset(texts=["good", "bad"], labels=[1, 0], backbone=spec, tokenize=True,
                                      verbose=False)
    with pytest.raises(ValueError, match="without tokenize=True"):
        tl_suite.fit(model, tokenized, epochs=1, log_dir=str(tmp_path), verbose=0)
