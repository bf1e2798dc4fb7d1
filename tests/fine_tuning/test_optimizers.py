import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import tl_suite
from tl_suite.fine_tuning.freezing import open_groups, recompile
from tl_suite.fine_tuning.optimizers import group_multipliers, peak_learning_rate, unfrozen_optimizer


def _max_change(before, variables):
    return {v.path: float(np.max(np.abs(np.array(v) - before[v.path]))) for v in variables}


def _one_step(model, images, labels):
    before = {v.path: np.array(v) for v in model.trainable_weights}
    x, y = model.prepare(images, labels)
    model.train_on_batch(x, y)
    return _max_change(before, model.trainable_weights)


def test_discriminative_rates_scale_each_groups_step(tiny_arrays, image_model):
    """Adam's first step moves each weight by about its learning rate (a tiny epsilon makes it
    exact for small gradients): the measured deltas show the head at 1e-2, the top base group at
    1e-3 and each group below at half the one above."""
    images, labels = tiny_arrays
    open_groups(image_model)
    multipliers = group_multipliers(tl_suite.layer_groups(image_model), 0.1, 0.5)
    recompile(image_model, tl_suite.DiscriminativeAdam(
        learning_rate=1e-2, epsilon=1e-12, learning_rate_multipliers=multipliers))
    change = _one_step(image_model, images[:16], labels[:16])
    expected = {"predictions/kernel": 1e-2, "top_conv/kernel": 1e-3, "block1_project_conv/kernel": 5e-4,
                "block0_dw_conv/kernel": 2.5e-4, "stem_conv/kernel": 1.25e-4}
    for path, rate in expected.items():
        assert change[path] == pytest.approx(rate, rel=0.02), (path, change[path])


def test_set_multipliers_closes_and_reopens_layers(tiny_arrays, image_model):
    images, labels = tiny_arrays
    tl_suite.unfreeze(image_model, learning_rate=1e-2, base_learning_rate=1e-3)
    optimizer = image_model.optimizer
    with pytest.raises(ValueError, match="not built"):
        optimizer.set_multipliers({"top_conv": 0.0})
    optimizer.build(image_model.trainable_variables)
    optimizer.set_multipliers({"top_conv": 0.0, "stem_conv": 2.0})
    assert optimizer.learning_rate_multipliers["top_conv"] == pytest.approx(0.1)  # the rules stay
    change = _one_step(image_model, images[:16], labels[:16])
    assert change["top_conv/kernel"] == 0.0
    assert change["stem_conv/kernel"] == pytest.approx(2e-2, rel=0.02)
    optimizer.set_multipliers({})  # back to the optimizer's own multipliers
    index = optimizer.variable_paths.index("top_conv/kernel")
    assert float(optimizer.multipliers[index]) == pytest.approx(0.1)


def test_discriminative_optimizer_survives_save_and_load(tmp_path, tiny_arrays, image_model):
    images, labels = tiny_arrays
    tl_suite.unfreeze(image_model, learning_rate=1e-3, base_learning_rate=1e-4, layer_decay=0.5)
    image_model.fit(images, labels, epochs=1, batch_size=20, shuffle=False, verbose=0)
    image_model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(reloaded.optimizer, tl_suite.DiscriminativeAdam)
    assert reloaded.optimizer.learning_rate_multipliers == image_model.optimizer.learning_rate_multipliers
    np.testing.assert_array_equal(np.array(reloaded.optimizer.multipliers),
                                  np.array(image_model.optimizer.multipliers))
    np.testing.assert_allclose(reloaded.predict(images[:4], verbose=0),
                               image_model.predict(images[:4], verbose=0), rtol=1e-6)
    # Both continue identically: same weights, same optimizer state, same per-group rates.
    _one_step(image_model, images[:20], labels[:20])
    _one_step(reloaded, images[:20], labels[:20])
    for a, b in zip(image_model.trainable_weights, reloaded.trainable_weights):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-5, atol=1e-6)


def test_group_multipliers_decay_from_the_top():
    groups = [("stem", ["a", "b"]), ("middle", ["c"]), ("top", ["d"])]
    assert group_multipliers(groups, 0.1, 0.5) == pytest.approx(
        {"d": 0.1, "c": 0.05, "a": 0.025, "b": 0.025})


def test_peak_learning_rate_and_the_optimizer_choice():
    assert peak_learning_rate(3e-4) == 3e-4
    assert peak_learning_rate(tl_suite.OneCycle(2e-3, total_steps=10)) == pytest.approx(2e-3)
    assert peak_learning_rate(tl_suite.warmup_cosine(5e-4, total_steps=10)) == pytest.approx(5e-4)
    with pytest.raises(ValueError, match="Received: learning_rate='fast'"):
        peak_learning_rate("fast")
    groups = [("stem", ["a"]), ("top", ["b"])]
    plain = unfrozen_optimizer(groups, 1e-3)
    assert type(plain) is keras.optimizers.Adam
    decayed = unfrozen_optimizer(groups, tl_suite.OneCycle(1e-2, total_steps=10), 1e-3, 0.5)
    assert decayed.learning_rate_multipliers == pytest.approx({"b": 0.1, "a": 0.05})
    with pytest.raises(ValueError, match="Received: layer_decay=1.5"):
        unfrozen_optimizer(groups, 1e-3, layer_decay=1.5)


MIRRORED_SCRIPT = textwrap.dedent("""
    import sys, numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
    import keras, tl_suite
    keras.utils.set_random_seed(0)
    strategy = tl_suite.get_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=2,
                                                weights=None, dropout=0.0)
    tl_suite.unfreeze(model, learning_rate=1e-2, base_learning_rate=1e-3, layer_decay=0.5)
    with strategy.scope():  # optimizer slots belong to the strategy
        model.optimizer.build(model.trainable_variables)
    model.optimizer.set_multipliers({"stem_conv": 0.0})
    images = np.random.default_rng(0).integers(0, 255, size=(8, 32, 32, 3)).astype("uint8")
    x, y = model.prepare(images, np.arange(8) % 2)
    stem = np.array(model.backbone.get_layer("stem_conv").kernel)
    top = np.array(model.backbone.get_layer("top_conv").kernel)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert np.array_equal(stem, np.array(model.backbone.get_layer("stem_conv").kernel))
    step = np.abs(np.array(model.backbone.get_layer("top_conv").kernel) - top).max()
    assert abs(step - 1e-3) < 2e-5, step
    model.save(sys.argv[1] + "/model.keras")
    reloaded = keras.saving.load_model(sys.argv[1] + "/model.keras")
    assert np.array_equal(np.array(reloaded.optimizer.multipliers), np.array(model.optimizer.multipliers))
    print("OK")
""")


def test_discriminative_adam_under_a_mirrored_strategy(tmp_path):
    completed = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT, str(tmp_path)],
                               capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.strip().splitlines()[-1] == "OK"
