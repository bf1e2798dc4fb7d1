import keras
import numpy as np
import pytest

import tl_suite
from tl_suite.backbones import text as text_backbones

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "film"]


def _values(schedule, steps):
    return np.array([float(schedule(step)) for step in steps])


def test_one_cycle_warms_up_then_anneals_and_serializes():
    schedule = tl_suite.OneCycle(1e-2, total_steps=40, warmup_fraction=0.25)
    values = _values(schedule, range(41))
    assert values[0] == pytest.approx(1e-2 / 25, rel=1e-5)
    assert values.argmax() == 10 and values[10] == pytest.approx(1e-2, rel=1e-5)
    assert np.all(np.diff(values[:11]) > 0) and np.all(np.diff(values[10:]) < 0)
    assert values[40] == pytest.approx(1e-7, rel=1e-3)
    assert float(schedule(1000)) == pytest.approx(1e-7, rel=1e-3)  # stays at the end value
    again = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    np.testing.assert_allclose(_values(again, range(41)), values)


def test_warmup_cosine_is_keras_cosine_decay_with_warmup():
    schedule = tl_suite.warmup_cosine(1e-3, total_steps=100, warmup_steps=20)
    values = _values(schedule, [0, 10, 20, 60, 100])
    np.testing.assert_allclose(values, [0, 5e-4, 1e-3, 5e-4, 0], atol=1e-9)
    with pytest.raises(ValueError, match="Received: warmup_steps=100"):
        tl_suite.warmup_cosine(1e-3, total_steps=100, warmup_steps=100)
    with pytest.raises(ValueError, match="Received: total_steps=0"):
        tl_suite.OneCycle(1e-3, total_steps=0)


def test_layer_groups_image_and_text():
    image = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=2, weights=None)
    groups = tl_suite.layer_groups(image)
    assert [name for name, _ in groups] == ["stem", "block0", "block1", "top"]
    assert groups[0][1] == ["stem_conv", "stem_bn"]
    text = tl_suite.build_text_classifier(text_backbones.tiny_bert_spec(VOCABULARY), num_classes=2,
                                          weights=None)
    groups = tl_suite.layer_groups(text)
    assert [name for name, _ in groups] == ["embeddings", "transformer_layer_0", "transformer_layer_1"]
    assert "token_embedding" in groups[0][1] and "pooled_dense" in groups[-1][1]


def _max_change(before, variables):
    return {v.path: float(np.max(np.abs(np.array(v) - before[v.path]))) for v in variables}


def test_discriminative_rates_scale_each_groups_step(tiny_arrays):
    """Adam's first step moves each weight by about its learning rate: the measured deltas show
    the head at 1e-2, the top base group at 1e-3 and each group below at half the one above."""
    images, labels = tiny_arrays
    model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=3, weights=None,
                                            dropout=0.0)
    tl_suite.unfreeze(model, learning_rate=1e-2, base_learning_rate=1e-3, layer_decay=0.5)
    assert isinstance(model.optimizer, tl_suite.DiscriminativeAdam)
    before = {v.path: np.array(v) for v in model.trainable_weights}
    model.train_on_batch(images[:16], labels[:16])
    change = _max_change(before, model.trainable_weights)
    expected = {"predictions/kernel": 1e-2, "top_conv/kernel": 1e-3, "block1_project_conv/kernel": 5e-4,
                "block0_dw_conv/kernel": 2.5e-4, "stem_conv/kernel": 1.25e-4}
    for path, rate in expected.items():
        assert change[path] == pytest.approx(rate, rel=0.02), (path, change[path])


def test_discriminative_optimizer_survives_save_and_load(tmp_path, tiny_arrays):
    images, labels = tiny_arrays
    model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=3, weights=None,
                                            dropout=0.0)  # no random masks: both runs comparable
    tl_suite.unfreeze(model, learning_rate=1e-3, base_learning_rate=1e-4, layer_decay=0.5)
    model.fit(images, labels, epochs=1, batch_size=20, verbose=0)
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(reloaded.optimizer, tl_suite.DiscriminativeAdam)
    assert reloaded.optimizer.learning_rate_multipliers == model.optimizer.learning_rate_multipliers
    np.testing.assert_array_equal(np.array(reloaded.optimizer.multipliers), np.array(model.optimizer.multipliers))
    np.testing.assert_allclose(reloaded.predict(images[:4], verbose=0), model.predict(images[:4], verbose=0),
                               rtol=1e-6)
    # Both continue identically: same weights, same optimizer state, same per-group rates.
    model.train_on_batch(images[:20], labels[:20])
    reloaded.train_on_batch(images[:20], labels[:20])
    for a, b in zip(model.trainable_weights, reloaded.trainable_weights):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-5, atol=1e-6)


def test_unfreeze_rejects_bad_layer_decay():
    model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=2, weights=None)
    with pytest.raises(ValueError, match="Received: layer_decay=0"):
        tl_suite.unfreeze(model, learning_rate=1e-3, layer_decay=0)
