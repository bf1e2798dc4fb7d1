import keras
import numpy as np
import pytest

import tl_suite

TINY = "tiny_efficientnet_lite"


def _tiny(num_classes=3, **kwargs):
    return tl_suite.build_image_classifier(TINY, num_classes=num_classes, weights=None, **kwargs)


def _batch_norm_stats(model):
    return {
        layer.name: [np.array(w) for w in layer.non_trainable_weights]
        for layer in model.backbone.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    }


def test_only_head_weights_are_trainable():
    model = _tiny(hidden_units=(8,))
    head_weights = {id(w) for w in model.head.weights}
    assert model.trainable_weights and all(id(w) in head_weights for w in model.trainable_weights)
    assert len(model.trainable_weights) == 4  # hidden kernel+bias, output kernel+bias
    assert [layer.name for layer in model.head.layers[1:]] == [
        "hidden0_dropout", "hidden0", "dropout", "predictions", "temperature"]


def test_model_input_is_preprocessed_images_at_the_input_size():
    model = _tiny(image_size=(40, 24))
    assert tuple(model.input.shape) == (None, 40, 24, 3)
    assert model.preprocessor.target_size == (40, 24)
    assert model.backbone.input_shape == (None, 40, 24, 3)
    with pytest.raises(ValueError):
        model(np.zeros((1, 32, 32, 3), "float32"))  # raw sizes go through model.preprocessor


def test_takes_uint8_images_of_any_size_and_softmax_rows_sum_to_one():
    model = _tiny()
    for shape in [(2, 50, 40, 3), (1, 7, 300, 3), (2, 33, 33, 1)]:
        images = np.random.default_rng(0).integers(0, 256, size=shape).astype("uint8")
        predictions = model.predict(images, verbose=0)
        assert predictions.shape == (shape[0], 3)
        np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-5)
        prepared, _ = model.prepare(images)
        np.testing.assert_allclose(predictions, model(prepared), rtol=1e-5, atol=1e-6)


def test_predict_takes_a_batch_of_gray_images_without_channel_axis():
    model = _tiny()
    gray = np.random.default_rng(0).integers(0, 256, size=(2, 33, 33)).astype("uint8")
    predictions = model.predict(gray, verbose=0)
    assert predictions.shape == (2, 3)
    # The same as the images given one by one (a 3-D array with 3 channels is one image).
    one_by_one = [model.predict(np.repeat(image[..., None], 3, axis=-1), verbose=0)[0] for image in gray]
    np.testing.assert_allclose(predictions, np.stack(one_by_one), rtol=1e-4, atol=1e-5)


def test_pooling_choice_sets_the_pool_layer():
    assert isinstance(_tiny().pool, keras.layers.GlobalAveragePooling2D)
    assert isinstance(_tiny(pooling="max").pool, keras.layers.GlobalMaxPooling2D)


def test_tasks_have_matching_outputs_and_losses():
    images = np.random.default_rng(0).integers(0, 256, size=(4, 32, 32, 3)).astype("uint8")
    multi = _tiny(num_classes=4, task="multi_label")
    out = multi.predict(images, verbose=0)
    assert ((out > 0) & (out < 1)).all() and not np.allclose(out.sum(axis=1), 1.0)
    assert multi.task == "multi_label" and multi.loss == "binary_crossentropy"
    regression = _tiny(num_classes=2, task="regression", dropout=0.0)
    assert regression.task == "regression" and regression.loss == "mean_squared_error"
    assert regression.head.get_layer("predictions").activation is keras.activations.linear
    assert _tiny().task == "classification"


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
    base_before = [np.array(w) for w in model.backbone.weights]
    history = model.fit(images, labels, epochs=15, batch_size=12, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    for a, b in zip(base_before, model.backbone.weights):
        np.testing.assert_array_equal(a, np.array(b))


@pytest.mark.parametrize("arguments, message", [
    ({"num_classes": 0}, "Received: num_classes=0"),
    ({"num_classes": 1}, "task='multi_label'"),
    ({"num_classes": 3, "task": "ranking"}, "Received: task='ranking'"),
    ({"num_classes": 3, "pooling": "sum"}, "Received: pooling='sum'"),
    ({"num_classes": 3, "dropout": 1.5}, "Received: dropout=1.5"),
    ({"num_classes": 2, "class_names": ["a", "b", "c"]}, "disagree"),
    ({"class_names": ["a", "a"]}, "distinct"),
    ({"num_classes": 3, "weights": "imagenet"}, "weights=None"),  # a test-only backbone
])
def test_builder_validates_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        tl_suite.build_image_classifier(TINY, **{"weights": None, **arguments})


def test_saved_model_reloads_and_predicts_identically(tmp_path):
    model = _tiny(hidden_units=(8,), class_names=["a", "b", "c"])
    images = np.random.default_rng(1).integers(0, 256, size=(3, 45, 30, 3)).astype("uint8")
    expected = model.predict(images, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = tl_suite.load_model(path)
    np.testing.assert_allclose(reloaded.predict(images, verbose=0), expected, rtol=1e-6, atol=1e-6)
    assert reloaded.task == "classification" and reloaded.class_names == ["a", "b", "c"]
    assert reloaded.preprocessor.target_size == model.preprocessor.target_size
    assert (reloaded.preprocessor.scale, reloaded.preprocessor.offset) == (1 / 127.5, -1.0)


def test_resnet50_model_flips_to_bgr_and_subtracts_the_caffe_means():
    model = tl_suite.build_image_classifier("resnet50", num_classes=2, weights=None,
                                            image_size=(64, 64))
    preprocessor = model.preprocessor
    assert preprocessor.bgr and preprocessor.scale is None
    np.testing.assert_allclose(preprocessor.offset, [-103.939, -116.779, -123.68])
    pixel = np.zeros((1, 64, 64, 3), "uint8")
    pixel[..., :] = [10, 20, 30]  # RGB
    x, _ = model.prepare(pixel)
    np.testing.assert_allclose(x[0, 0, 0], [30 - 103.939, 20 - 116.779, 10 - 123.68], rtol=1e-5)
    assert model.predict(pixel, verbose=0).shape == (1, 2)
    assert [name for name, _ in model.layer_groups] == [
        "conv1", "conv2", "conv3", "conv4", "conv5"]
