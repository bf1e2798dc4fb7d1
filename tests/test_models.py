import keras
import numpy as np
import pytest

import tl_suite
from tl_suite.models import infer_task

TINY = "tiny_efficientnet_lite"


def _tiny(num_classes=3, **kwargs):
    return tl_suite.build_image_classifier(TINY, num_classes=num_classes, weights=None, **kwargs)


def _batch_norm_stats(model):
    return {
        layer.name: [np.array(w) for w in layer.non_trainable_weights]
        for layer in model.get_layer("backbone").layers
        if isinstance(layer, keras.layers.BatchNormalization)
    }


def test_only_head_weights_are_trainable():
    model = _tiny(hidden_units=(8,))
    head_weights = {id(w) for w in model.get_layer("head").weights}
    assert model.trainable_weights and all(id(w) in head_weights for w in model.trainable_weights)
    assert len(model.trainable_weights) == 4  # hidden kernel+bias, output kernel+bias


def test_takes_uint8_images_of_any_size_and_softmax_rows_sum_to_one():
    model = _tiny()
    for shape in [(2, 50, 40, 3), (1, 7, 300, 3)]:
        images = np.random.default_rng(0).integers(0, 256, size=shape).astype("uint8")
        predictions = model.predict(images, verbose=0)
        assert predictions.shape == (shape[0], 3)
        np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-5)


def test_tasks_have_matching_outputs_and_losses():
    images = np.random.default_rng(0).integers(0, 256, size=(4, 32, 32, 3)).astype("uint8")
    multi = _tiny(num_classes=4, task="multi_label")
    out = multi.predict(images, verbose=0)
    assert ((out > 0) & (out < 1)).all() and not np.allclose(out.sum(axis=1), 1.0)
    assert infer_task(multi) == "multi_label" and multi.loss == "binary_crossentropy"
    regression = _tiny(num_classes=2, task="regression", dropout=0.0)
    assert infer_task(regression) == "regression" and regression.loss == "mean_squared_error"
    assert infer_task(_tiny()) == "classification"


def test_batch_norm_statistics_unchanged_after_fit_on_frozen_base(tiny_arrays):
    images, labels = tiny_arrays
    model = _tiny()
    before = _batch_norm_stats(model)
    model.fit(images, labels, epochs=2, batch_size=8, verbose=0)
    after = _batch_norm_stats(model)
    for name in before:
        for a, b in zip(before[name], after[name]):
            np.testing.assert_array_equal(a, b)


def test_head_learns_on_frozen_base(tiny_arrays):
    images, labels = tiny_arrays
    model = _tiny(learning_rate=1e-2, seed=1)
    base_before = [np.array(w) for w in model.get_layer("backbone").weights]
    history = model.fit(images, labels, epochs=15, batch_size=12, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    for a, b in zip(base_before, model.get_layer("backbone").weights):
        np.testing.assert_array_equal(a, np.array(b))


def test_unfreeze_top_layers_keeps_batch_norm_frozen_and_recompiles(tiny_arrays):
    images, labels = tiny_arrays
    model = _tiny()
    opened = tl_suite.unfreeze(model, layers=6, learning_rate=1e-4)
    base = model.get_layer("backbone")
    assert opened and all(base.get_layer(name).trainable for name in opened)
    assert not any(
        layer.trainable for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization)
    )
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-4)
    assert model.loss == "sparse_categorical_crossentropy"
    before = _batch_norm_stats(model)
    conv_before = np.array(base.get_layer("top_conv").kernel)
    model.fit(images, labels, epochs=1, batch_size=8, verbose=0)
    assert not np.array_equal(conv_before, np.array(base.get_layer("top_conv").kernel))
    for name, stats in before.items():
        for a, b in zip(stats, _batch_norm_stats(model)[name]):
            np.testing.assert_array_equal(a, b)


def test_unfreeze_from_named_block():
    model = _tiny()
    opened = tl_suite.unfreeze(model, from_layer="block1")
    assert opened[0] == "block1_expand_conv" and "stem_conv" not in opened
    assert not model.get_layer("backbone").get_layer("block0_dw_conv").trainable


def test_unfreeze_errors_are_clear():
    model = _tiny()
    with pytest.raises(ValueError, match="No layer name contains 'block99'"):
        tl_suite.unfreeze(model, from_layer="block99")
    with pytest.raises(ValueError, match="either `layers` or `from_layer`"):
        tl_suite.unfreeze(model, layers=2, from_layer="block1")
    with pytest.raises(ValueError, match="Received: layers=0"):
        tl_suite.unfreeze(model, layers=0)


@pytest.mark.parametrize("arguments, message", [
    ({"num_classes": 0}, "Received: num_classes=0"),
    ({"num_classes": 1}, "task='multi_label'"),
    ({"num_classes": 3, "task": "ranking"}, "Received: task='ranking'"),
    ({"num_classes": 3, "pooling": "sum"}, "Received: pooling='sum'"),
    ({"num_classes": 3, "dropout": 1.5}, "Received: dropout=1.5"),
])
def test_builder_validates_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        tl_suite.build_image_classifier(TINY, weights=None, **arguments)


def test_saved_model_reloads_and_predicts_identically(tmp_path):
    model = _tiny(hidden_units=(8,))
    images = np.random.default_rng(1).integers(0, 256, size=(3, 45, 30, 3)).astype("uint8")
    expected = model.predict(images, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(reloaded.predict(images, verbose=0), expected, rtol=1e-6, atol=1e-6)
    assert infer_task(reloaded) == "classification"


def test_resnet50_model_uses_caffe_preprocessing_inside():
    model = tl_suite.build_image_classifier("resnet50", num_classes=2, weights=None, image_size=(64, 64))
    assert model.get_layer("caffe_preprocessing") is not None
    assert model.predict(np.zeros((1, 64, 64, 3), "uint8"), verbose=0).shape == (1, 2)
