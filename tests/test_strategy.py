import subprocess
import sys
import textwrap

import pytest
import tensorflow as tf

import tl_suite


def test_unknown_strategy_is_a_clear_error():
    with pytest.raises(ValueError, match="Received: name='gpus'") as info:
        tl_suite.get_strategy("gpus")
    assert "mirrored" in str(info.value)


def test_cpu_and_auto_give_one_replica_here():
    assert tl_suite.get_strategy("cpu").num_replicas_in_sync == 1
    if not tf.config.list_logical_devices("GPU"):
        strategy = tl_suite.get_strategy("auto")
        assert isinstance(strategy, tf.distribute.OneDeviceStrategy)
        with pytest.raises(RuntimeError, match="sees no GPU"):
            tl_suite.get_strategy("gpu")


def test_tpu_without_tpu_fails_at_once(monkeypatch):
    monkeypatch.delenv("TPU_NAME", raising=False)
    monkeypatch.setattr("glob.glob", lambda pattern: [])
    with pytest.raises(RuntimeError, match="No TPU found"):
        tl_suite.get_strategy("tpu")


MIRRORED_SCRIPT = textwrap.dedent("""
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
    import keras, tl_suite
    keras.utils.set_random_seed(0)
    strategy = tl_suite.get_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2, strategy.num_replicas_in_sync
    rng = np.random.default_rng(0)
    labels = np.arange(48) % 2
    images = rng.integers(0, 50, size=(48, 16, 16, 3)).astype("uint8")
    images[labels == 1, :, :, 0] = 220
    train, validation = tl_suite.image_dataset(images=images, labels=labels, validation_split=0.25,
        subset="both", batch_size=8, verbose=False)
    with strategy.scope():
        model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=2,
            weights=None, learning_rate=3e-2)
    history = tl_suite.fit(model, train, validation, epochs=6, log_dir=__import__("sys").argv[1],
        early_stopping_patience=None, verbose=0)
    result = tl_suite.evaluate(model, validation)
    losses = history.history["loss"]
    assert losses[-1] < losses[0], losses
    tuned = tl_suite.fine_tune(model, train, validation, frozen_epochs=0, epochs=2,
        base_learning_rate=1e-3, layer_decay=0.5, log_dir=__import__("sys").argv[1] + "/fine_tune",
        verbose=0)
    assert isinstance(model.optimizer, tl_suite.DiscriminativeAdam)
    assert all(np.isfinite(tuned.history["loss"])), tuned.history
    result = tl_suite.evaluate(model, validation)
    model.save(__import__("sys").argv[1] + "/model.keras")
    reloaded = keras.saving.load_model(__import__("sys").argv[1] + "/model.keras")
    np.testing.assert_allclose(reloaded.predict(images[:4], verbose=0),
                               model.predict(images[:4], verbose=0), rtol=1e-5)
    print("OK", strategy.num_replicas_in_sync, round(result["metrics"]["accuracy"], 3))
""")


def test_mirrored_strategy_on_two_logical_cpus_end_to_end(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT, str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.strip().splitlines()[-1].startswith("OK 2")
    assert (tmp_path / "model.keras").exists()


def test_mixed_precision_auto_is_float32_on_cpu_and_heads_stay_float32():
    import keras

    try:
        if not tf.config.list_logical_devices("GPU"):
            assert tl_suite.set_mixed_precision("auto") == "float32"
        assert tl_suite.set_mixed_precision("mixed_bfloat16") == "mixed_bfloat16"
        model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=2, weights=None)
        assert model.get_layer("backbone").compute_dtype == "bfloat16"
        import numpy as np
        assert model.predict(np.zeros((1, 16, 16, 3), "uint8"), verbose=0).dtype == np.float32
        with pytest.raises(ValueError, match="Received: mode='half'"):
            tl_suite.set_mixed_precision("half")
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_multi_worker_comes_from_tf_config(monkeypatch):
    from tl_suite import strategy

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(RuntimeError, match="needs TF_CONFIG"):
        tl_suite.get_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 0}}')
    assert strategy._cluster_workers() == 2
    built = []
    monkeypatch.setattr(tf.distribute, "MultiWorkerMirroredStrategy", lambda: built.append(1) or "mwms")
    assert tl_suite.get_strategy("auto") == "mwms" and built == [1]
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        tl_suite.get_strategy("auto")
