"""Grad-CAM, checked for real: a tiny EfficientNet-Lite trained to find a bright square puts its
heat on the square."""

import numpy as np
import pytest
import tensorflow as tf
from matplotlib.figure import Figure
from PIL import Image

import tl_suite
from tl_suite.explain.explain import explain
from tl_suite.explain.grad_cam import feature_map_models, grad_cam

SIZE, SIDE = 64, 16
NAMES = ["empty", "square"]


def squares(count, seed):
    """Noisy dark canvases; odd ones hold a bright square at a random place (its box given)."""
    rng = np.random.default_rng(seed)
    images = (30 + rng.integers(0, 20, size=(count, SIZE, SIZE, 3))).astype("uint8")
    labels, boxes = np.arange(count) % 2, []
    for image, label in zip(images, labels):
        row, column = rng.integers(0, SIZE - SIDE, size=2)
        if label:
            image[row:row + SIDE, column:column + SIDE] = 230
        boxes.append((row, column) if label else None)
    return images, labels, boxes


def heat_inside(heatmap, box, margin=0):
    row, column = box
    top, left = max(row - margin, 0), max(column - margin, 0)
    inside = heatmap[top:row + SIDE + margin, left:column + SIDE + margin]
    return float(inside.sum() / heatmap.sum())


@pytest.fixture(scope="module")
def square_model(tmp_path_factory):
    """Trained end to end (the random base alone does not see squares), 64 images, ~10 s."""
    tf.keras.utils.set_random_seed(0)
    images, labels, _ = squares(64, seed=0)
    train = tl_suite.image_dataset(images=images, labels=labels, class_names=NAMES,
                                   batch_size=16, verbose=False)
    model = tl_suite.build_image_classifier("tiny_efficientnet_lite", class_names=NAMES,
                                            weights=None, image_size=(SIZE, SIZE), seed=0)
    tl_suite.unfreeze(model, learning_rate=1e-2)
    tl_suite.fit(model, train, epochs=30, log_dir=str(tmp_path_factory.mktemp("logs")),
                 verbose=0, early_stopping_patience=None)
    return model


def test_most_heat_falls_on_the_square(square_model):
    images, labels, boxes = squares(16, seed=1)  # not seen in training
    results = explain(square_model, images[labels == 1])
    area = SIDE * SIDE / SIZE ** 2  # 0.0625
    boxes = [box for box in boxes if box is not None]
    inside = [heat_inside(r["heatmap"], box) for r, box in zip(results, boxes)]
    near = [heat_inside(r["heatmap"], box, margin=SIZE // 16)  # one cell of the 16x16 map
            for r, box in zip(results, boxes)]
    print(f"heat inside the square: mean {np.mean(inside):.3f} (area {area:.4f}); "
          f"within one feature-map cell: {np.mean(near):.3f} (area {((SIDE + 8) / SIZE) ** 2:.4f})")
    assert all(r["label"] == "square" and r["probability"] > 0.9 for r in results)
    assert min(inside) > 3 * area and np.mean(inside) > 5 * area
    assert np.mean(near) > 0.5


def test_heatmaps_are_arrays_in_zero_one_and_figures(square_model):
    images, _, _ = squares(2, seed=2)
    (result,) = explain(square_model, images[1])
    heatmap = result["heatmap"]
    assert heatmap.shape == (SIZE, SIZE) and heatmap.dtype == np.float32
    assert heatmap.min() >= 0 and heatmap.max() == pytest.approx(1.0)
    np.testing.assert_array_equal(result["image"], images[1])
    assert isinstance(result["figure"], Figure) and len(result["figure"].axes) == 2
    assert result["predicted"] == "square"


def test_inputs_as_users_hold_them_give_the_same_heat_map(square_model, tmp_path):
    images, _, _ = squares(2, seed=3)
    path = tmp_path / "square.png"
    Image.fromarray(images[1]).save(path)
    from_array, from_path, from_pil = explain(
        square_model, [images[1], str(path), Image.fromarray(images[1])])
    np.testing.assert_allclose(from_path["heatmap"], from_array["heatmap"], atol=1e-6)
    np.testing.assert_allclose(from_pil["heatmap"], from_array["heatmap"], atol=1e-6)
    gray = explain(square_model, images[1][..., 0])[0]  # a gray (H, W) image
    assert gray["heatmap"].shape == (SIZE, SIZE)


def test_target_explains_another_class_and_log_dir_writes_the_figures(square_model, tmp_path):
    images, _, _ = squares(2, seed=4)
    (square,) = explain(square_model, images[1])
    (empty,) = explain(square_model, images[1], target="empty", log_dir=str(tmp_path), step=2)
    assert empty["label"] == "empty"
    assert empty["probability"] == pytest.approx(1 - square["probability"], abs=1e-5)
    assert not np.allclose(empty["heatmap"], square["heatmap"])
    (events,) = tmp_path.rglob("events.out.tfevents.*")
    tags = [(value.tag, event.step) for event in tf.compat.v1.train.summary_iterator(str(events))
            for value in event.summary.value]
    assert tags == [("explain/0", 2)]


def test_grad_cam_finds_the_last_convolutional_map_and_follows_the_class_logit():
    model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=3, weights=None)
    to_map, from_map = feature_map_models(model.backbone)
    assert to_map is model.backbone and from_map is None  # the base's own output is 4-D
    x = np.random.default_rng(0).integers(0, 255, size=(2, 32, 32, 3)).astype("uint8")
    heatmaps, probabilities = grad_cam(model, x, targets=[0, 2])
    np.testing.assert_allclose(probabilities, model.predict(x, verbose=0), atol=1e-5)
    # with average pooling and a linear head, Grad-CAM is CAM: the head's weights on the map
    feature_map = np.asarray(model.backbone(model.prepare(x)[0], training=False))
    kernel = np.asarray(model.head.get_layer("predictions").kernel)
    cam = np.maximum((feature_map * kernel[:, 0]).sum(-1)[0], 0)
    expected = tf.image.resize(cam[None, ..., None], (32, 32))[0, ..., 0].numpy()
    np.testing.assert_allclose(heatmaps[0], expected / expected.max(), atol=1e-4)


def test_explain_errors_name_the_argument(square_model):
    with pytest.raises(ValueError, match=r"Received: target='zebra'"):
        explain(square_model, np.zeros((8, 8), "uint8"), target="zebra")
    with pytest.raises(ValueError, match=r"Received: steps=0"):
        explain(square_model, np.zeros((8, 8), "uint8"), steps=0)
    regressor = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=1,
                                                task="regression", weights=None)
    with pytest.raises(ValueError, match=r"Received: a regression model"):
        explain(regressor, np.zeros((8, 8), "uint8"))
