import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import tl_suite
from tl_suite.backbones import text as text_backbones
from tl_suite.models.layers import ClsPooling, MaskedMeanPooling, WindowMean, WindowsToBatch
from tl_suite.preprocessing.text import TextPreprocessor
from tests.models.conftest import VOCABULARY

@pytest.fixture
def spec(text_spec):
    return text_spec


def test_masked_mean_pooling_ignores_padding():
    sequence = np.array([[[1.0, 2.0], [3.0, 4.0], [100.0, -100.0]]], dtype="float32")
    mask = np.array([[True, True, False]])
    pooled = keras.ops.convert_to_numpy(MaskedMeanPooling()(sequence, mask))
    np.testing.assert_allclose(pooled, [[2.0, 3.0]])


def test_prediction_does_not_depend_on_batch_padding(spec):
    model = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, seed=1)
    alone = model(model.prepare(tf.constant(["good film"]))[0])
    with_long = model(model.prepare(tf.constant(["good film", "the quick brown fox jumped " * 6]))[0])
    np.testing.assert_allclose(alone[0], with_long[0], rtol=1e-5, atol=1e-6)


def test_spec_pooling_defaults_and_overrides(spec):
    assert tl_suite.get_backbone("minilm_l6").pooling == "mean"
    assert text_backbones.preset_spec("bert_base_en_uncased").pooling == "pooler"
    for pooling, layer_type in [("mean", MaskedMeanPooling), ("cls", ClsPooling),
                                ("pooler", keras.layers.Identity)]:
        model = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, pooling=pooling,
                                               wide_tokens=None)
        assert isinstance(model.pool, layer_type) and model.pooling == pooling
        wide = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, pooling=pooling)
        assert isinstance(wide.get_layer("encoder_pool"), layer_type)  # joined by the TF-IDF branch
        assert model.get_config()["pooling"] == pooling
    with pytest.raises(ValueError, match="Received: pooling='max'"):
        tl_suite.build_text_classifier(spec, num_classes=2, weights=None, pooling="max")


def test_pooled_features_are_what_each_pooling_says(spec):
    model = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, pooling="cls",
                                           wide_tokens=None)
    x, _ = model.prepare(np.array(["good film", "bad"]))
    sequence = model.backbone(x)["sequence_output"]
    np.testing.assert_allclose(model.features_model()(x), sequence[:, 0, :], rtol=1e-6)
    mean = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, pooling="mean",
                                          wide_tokens=None)
    mean.backbone.set_weights(model.backbone.get_weights())
    mask = keras.ops.convert_to_numpy(x["padding_mask"])
    expected = [np.asarray(sequence)[row, mask[row]].mean(axis=0) for row in range(2)]
    np.testing.assert_allclose(mean.features_model()(x), expected, rtol=1e-5, atol=1e-6)


def test_only_head_trains_and_tasks_have_the_right_outputs(spec):
    model = tl_suite.build_text_classifier(spec, num_classes=3, weights=None)
    head_ids = {id(w) for w in model.head.trainable_weights}
    assert model.trainable_weights and all(id(w) in head_ids for w in model.trainable_weights)
    probabilities = model(model.prepare(tf.constant(["good film", "bad"]))[0])
    np.testing.assert_allclose(np.sum(probabilities, axis=1), 1.0, rtol=1e-5)
    multi = tl_suite.build_text_classifier(spec, num_classes=3, multi_label=True, weights=None)
    assert multi.loss == "binary_crossentropy" and multi.task == "multi_label"
    out = keras.ops.convert_to_numpy(multi(multi.prepare(tf.constant(["good film", "bad"]))[0]))
    assert ((out > 0) & (out < 1)).all() and not np.allclose(out.sum(axis=1), 1.0)
    regressor = tl_suite.build_text_regressor(spec, num_outputs=2, weights=None)
    assert regressor.predict(["good"], verbose=0).shape == (1, 2)  # one string: a batch of one
    assert regressor.task == "regression" and regressor.label_names is None


def _losses(model, x, y, steps=10):
    """Train ``steps`` times on one batch (fit's train step, without fit's per-epoch cost)."""
    return [float(np.ravel(model.train_on_batch(x, y))[0]) for _ in range(steps)]


def test_frozen_training_on_text_pairs_changes_only_the_head(spec):
    model = tl_suite.build_text_regressor(spec, output_names=["rating"], weights=None,
                                          learning_rate=5e-2, seed=0)
    base_before = [np.array(w) for w in model.backbone.weights]
    pairs = (np.array(["good film", "bad film"] * 4), np.array(["good", "bad"] * 4))
    losses = _losses(model, pairs, np.array([5.0, 1.0] * 4))
    assert losses[-1] < losses[0] / 2
    for before, after in zip(base_before, model.backbone.weights):
        np.testing.assert_array_equal(before, np.array(after))
    x, _ = model.prepare((np.array(["good film", "bad film"]), np.array(["good", "bad"])))
    ratings = keras.ops.convert_to_numpy(model(x))[:, 0]
    assert ratings[0] > ratings[1]


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
    ({"num_classes": 3, "class_names": ["a", "b"]}, "disagree"),
    ({"num_classes": 2, "dropout": -0.1}, "Received: dropout=-0.1"),
    ({"num_classes": 2, "lora_rank": 0}, "Received: lora_rank=0"),
])
def test_text_builder_validates_arguments(spec, arguments, message):
    with pytest.raises(ValueError, match=message):
        tl_suite.build_text_classifier(spec, **{"weights": None, **arguments})


def test_image_backbone_for_text_is_a_clear_error():
    with pytest.raises(ValueError, match="image backbone.*Received: backbone='efficientnet_lite0'"):
        tl_suite.build_text_classifier("efficientnet_lite0", num_classes=2)


def test_real_minilm_embeddings_put_similar_sentences_together():
    backbone, tokenizer = text_backbones.load_text_backbone(tl_suite.get_backbone("minilm_l6"))
    preprocessor = TextPreprocessor(tokenizer, sequence_length=32)
    x = preprocessor(tf.constant(["A cat sits on the mat.", "A kitten is sitting on a rug.",
                                  "Stock markets fell sharply today."]))
    pooled = MaskedMeanPooling()(backbone(x)["sequence_output"], x["padding_mask"])
    vectors = keras.ops.convert_to_numpy(pooled)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_windowed_model_averages_the_vectors_of_its_windows(spec):
    windowed = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, sequence_length=8,
                                              max_windows=3, seed=0)
    single = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, sequence_length=8, seed=0)
    single.set_weights(windowed.get_weights())

    def features(model, texts):
        x, _ = model.prepare(tf.constant(texts))
        return model.features_model()(x).numpy()

    long_text = "the quick brown fox paris is big"
    expected = features(single, ["the quick brown fox paris is", "big"]).mean(axis=0)  # 6 + 1 pieces
    np.testing.assert_allclose(features(windowed, [long_text])[0], expected, atol=1e-6)
    # Padding windows (from a longer text in the same batch) never change a prediction.
    alone = windowed(windowed.prepare(tf.constant(["good film"]))[0])
    batched = windowed(windowed.prepare(tf.constant(["good film", " ".join(["rain"] * 12)]))[0])
    np.testing.assert_allclose(batched[0], alone[0], atol=1e-6)


def test_windowed_model_trains_with_its_window_layers(spec):
    model = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, sequence_length=8,
                                           max_windows=3, learning_rate=5e-2, seed=0)
    assert model.jit_compile is False  # windows are picked with data-dependent shapes
    assert isinstance(model.get_layer("windows_to_batch"), WindowsToBatch)
    assert isinstance(model.get_layer("encoder_pool"), WindowMean)  # then joined by the TF-IDF branch
    texts = np.array(["good film " * 4, "bad film " * 4, "good", "bad"] * 2)
    losses = _losses(model, texts, np.array([1, 0, 1, 0] * 2))
    assert losses[-1] < losses[0]


def test_windowed_model_refuses_xla_pairs_and_bad_window_counts(spec):
    with pytest.raises(ValueError, match="Received: jit_compile=True"):
        tl_suite.build_text_classifier(spec, num_classes=2, weights=None, max_windows=2, jit_compile=True)
    with pytest.raises(ValueError, match="Received: max_windows=0"):
        tl_suite.build_text_classifier(spec, num_classes=2, weights=None, max_windows=0)
    model = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, max_windows=2)
    with pytest.raises(ValueError, match="text pairs need max_windows=1"):
        model.predict([("good", "bad")], verbose=0)


def test_token_classifier_validates_tags_and_puts_the_head_on_every_piece(spec):
    for tags in (None, [], ["O", "O"], ["O", 1]):
        with pytest.raises(ValueError, match="Received: tags="):
            tl_suite.build_token_classifier(spec, tags=tags, weights=None)
    model = tl_suite.build_token_classifier(spec, tags=["O", "B-loc"], weights=None)
    x, _ = model.prepare(np.array(["paris is big", "london"]))
    outputs = keras.ops.convert_to_numpy(model(x))
    assert outputs.shape == (*x["token_ids"].shape, 2)
    np.testing.assert_allclose(outputs.sum(axis=-1), 1.0, rtol=1e-5)


# The wide branch: TF-IDF features of the raw text joined to the encoder's pooled features.

WIDE_TEXTS = ["good film", "bad film", "good good film", "bad bad film", "the film is good",
              "the film is bad", "paris is good", "london is bad"]
WIDE_LABELS = ["positive", "negative"] * 4


def _wide_data(**kwargs):
    return tl_suite.text_dataset(texts=WIDE_TEXTS, labels=WIDE_LABELS, batch_size=4,
                                 class_names=["negative", "positive"], verbose=False, **kwargs)


def test_wide_branch_is_the_frozen_default_and_one_argument_away(spec):
    model = tl_suite.build_text_classifier(spec, num_classes=2, weights=None)
    assert model.wide_tokens == 50_000 and model.preprocessor.wide_tokens == 50_000
    assert model.pool.output.shape[-1] == 8 + 50_000  # encoder features (hidden 8) + TF-IDF
    assert "tf_idf" in {t.name for t in model.inputs}
    assert tl_suite.build_text_classifier(spec, num_classes=2, weights=None, lora_rank=2).wide_tokens is None
    encoder_only = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, wide_tokens=None)
    assert encoder_only.pool.output.shape[-1] == 8 and encoder_only.preprocessor.tf_idf is None
    assert tl_suite.build_text_regressor(spec, weights=None, wide_tokens=64).pool.output.shape[-1] == 72
    with pytest.raises(ValueError, match="wide_tokens=1"):
        tl_suite.build_text_classifier(spec, num_classes=2, weights=None, wide_tokens=1)


def test_fit_learns_the_vocabulary_once_and_it_is_saved(spec, tmp_path):
    model = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, wide_tokens=40, seed=1)
    untrained = model.predict(["good film"], verbose=0)  # before fit: zeros on the wide branch
    assert untrained.shape == (1, 2) and not model.preprocessor.tf_idf.is_adapted
    tl_suite.fit(model, _wide_data(), epochs=2, log_dir=str(tmp_path / "a"), verbose=0)
    vocabulary = model.preprocessor.tf_idf.vocabulary
    assert vocabulary[:3] == ["[UNK]", "film", "bad"] or vocabulary[:3] == ["[UNK]", "film", "good"]
    assert "good film" in vocabulary
    # a second fit on other texts keeps the vocabulary the head was trained on
    other = tl_suite.text_dataset(texts=["zebra zebra"] * 4, labels=["positive"] * 4,
                                  class_names=["negative", "positive"], verbose=False)
    tl_suite.fit(model, other, epochs=1, log_dir=str(tmp_path / "b"), verbose=0)
    assert model.preprocessor.tf_idf.vocabulary == vocabulary
    texts = ["good film", "bad film in london", "unseen words only"]
    before = model.predict(texts, verbose=0)
    model.save(tmp_path / "wide.keras")
    reloaded = keras.saving.load_model(tmp_path / "wide.keras")
    assert reloaded.preprocessor.tf_idf.vocabulary == vocabulary and reloaded.wide_tokens == 40
    np.testing.assert_allclose(reloaded.predict(texts, verbose=0), before, rtol=1e-5, atol=1e-6)


def test_wide_branch_carries_word_evidence_the_encoder_lacks(tmp_path):
    # A random encoder cannot tell the classes apart from 1-token texts it maps to [UNK];
    # the TF-IDF branch sees the words and learns them.
    spec = text_backbones.tiny_bert_spec(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    texts = ["alpha", "beta"] * 16
    train = tl_suite.text_dataset(texts=texts, labels=["a", "b"] * 16, class_names=["a", "b"],
                                  batch_size=8, verbose=False)
    scores = {}
    for wide in (None, 16):
        model = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, wide_tokens=wide,
                                               seed=3, learning_rate=5e-2)
        tl_suite.fit(model, train, epochs=15, log_dir=str(tmp_path / str(wide)), verbose=0,
                     early_stopping_patience=None)
        scores[wide] = tl_suite.evaluate(model, train, verbose=False)["metrics"]["accuracy"]
    assert scores[16] == 1.0 and scores[None] == 0.5


def test_cached_and_plain_paths_train_the_same_wide_head(tmp_path):
    # The base's own dropout off: keras' functional call passes the outer `training` on to the
    # backbone, so the plain path would train with the base's dropout (not the cached path).
    spec = text_backbones.tiny_bert_spec(VOCABULARY, dropout=0.0)
    train = _wide_data(shuffle=False)
    heads = []
    for cache in (False, True):
        keras.utils.set_random_seed(7)
        model = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, wide_tokens=30,
                                               dropout=0.0, seed=7)
        tl_suite.fit(model, train, epochs=3, log_dir=str(tmp_path / str(cache)), cache_features=cache,
                     early_stopping_patience=None, verbose=0)
        heads.append([np.array(w) for w in model.head.trainable_weights])
    wide_rows = heads[0][0][8:]  # the kernel rows of the TF-IDF features
    assert np.abs(wide_rows).max() > 0
    for plain, cached in zip(*heads):
        np.testing.assert_allclose(plain, cached, rtol=1e-4, atol=1e-5)


def test_wide_branch_with_pairs_windows_and_keras_fit(spec, tmp_path):
    pairs = tl_suite.text_dataset(texts=[("good", "film"), ("bad", "film")] * 4, labels=WIDE_LABELS,
                                  class_names=["negative", "positive"], verbose=False)
    model = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, wide_tokens=20)
    tl_suite.fit(model, pairs, epochs=1, log_dir=str(tmp_path), verbose=0)
    assert "good film" in model.preprocessor.tf_idf.vocabulary  # a pair counts as one text
    windowed = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, wide_tokens=20,
                                              sequence_length=8, max_windows=2)
    windowed.fit(tf.constant(WIDE_TEXTS), np.array([1, 0] * 4), epochs=1, verbose=0)  # Keras' own fit
    assert windowed.preprocessor.tf_idf.is_adapted and "film" in windowed.preprocessor.tf_idf.vocabulary
    assert windowed.predict(["good film " * 6], verbose=0).shape == (1, 2)


def test_wide_branch_refuses_token_ids(spec, tmp_path):
    tokenized = tl_suite.text_dataset(texts=WIDE_TEXTS, labels=WIDE_LABELS, backbone=spec,
                                      tokenize=True, verbose=False)
    model = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, wide_tokens=20)
    with pytest.raises(ValueError, match="without tokenize=True"):
        tl_suite.fit(model, tokenized, epochs=1, log_dir=str(tmp_path), verbose=0)


def test_fit_chooses_the_head_branches_on_validation_and_the_choice_is_saved(spec, tmp_path, capsys):
    train, validation = _wide_data(validation_split=0.5, subset="both", seed=3)
    model = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, wide_tokens=30, seed=1)
    assert model.branches == "encoder+tf_idf"
    history = tl_suite.fit(model, train, validation, epochs=3, log_dir=str(tmp_path / "a"))
    choice = history.branch_choice
    losses = choice["validation_loss"]
    assert set(losses) == {"encoder+tf_idf", "tf_idf"} and all(np.isfinite(list(losses.values())))
    assert choice["chosen"] == min(losses, key=losses.get) == model.branches
    assert f"Head branches: {choice['chosen']} (best validation loss" in capsys.readouterr().out
    model.save(tmp_path / "chosen.keras")
    assert keras.saving.load_model(tmp_path / "chosen.keras").branches == model.branches
    # without validation data, or when asked not to, the head keeps both branches
    for kwargs in ({"validation": None}, {"validation": validation, "choose_branches": False}):
        other = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, wide_tokens=30)
        history = tl_suite.fit(other, train, epochs=1, log_dir=str(tmp_path / "b"), verbose=0,
                               resume=False, **kwargs)
        assert history.branch_choice is None and other.branches == "encoder+tf_idf"
    no_wide = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, wide_tokens=None)
    assert no_wide.branches == "encoder"
