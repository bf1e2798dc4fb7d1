"""Grad-CAM (Selvaraju et al., 2017): where in an image the evidence for a class lies.

The class logit's gradients with respect to the backbone's last convolutional feature map,
averaged over the map, weigh its channels; the weighted sum, with negative values cut, is
upsampled to the image and scaled to [0, 1]. The base runs in inference mode (BatchNorm
with its moving statistics), as everywhere in tl_suite.
"""

import keras
import numpy as np
import tensorflow as tf

from tl_suite.explain.figures import heatmap_figure
from tl_suite.explain.scores import log_probabilities, logits_function


def _rank(tensor):
    return len(tensor.shape)


def feature_map_models(backbone):
    """``(to_map, from_map)``: the backbone split at its last 4-D (convolutional) output, as
    two models (``from_map`` is None when that output is the backbone's own)."""
    layers = [layer for layer in backbone.layers
              if not isinstance(layer, keras.layers.InputLayer) and _rank(layer.output) == 4]
    if not layers:
        raise ValueError(
            "Grad-CAM needs a convolutional backbone (a layer with a 4-D output: batch, height, "
            f"width, channels). Received: a backbone {backbone.name!r} with none."
        )
    last = layers[-1].output
    if last is backbone.output:
        return backbone, None
    return keras.Model(backbone.input, last), keras.Model(last, backbone.output)


def grad_cam(model, images, targets=None):
    """Grad-CAM heat maps of an image model.

    Args:
        model: An image model from `build_image_classifier`.
        images: A uint8 batch ``(N, H, W, 3)`` of the model's input size (``model.preprocessor.
            coerce`` makes one from paths, PIL images or arrays).
        targets: Class index per image, or None for each image's predicted class.

    Returns:
        ``(heatmaps, outputs)``: ``(N, H, W)`` float32 maps in [0, 1] (all zeros where no
        location adds evidence), and the model's outputs (probabilities) for the images.

    Example:
    >>> import numpy as np, tl_suite
    >>> model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=2, weights=None)
    >>> heatmaps, outputs = grad_cam(model, np.zeros((2, 32, 32, 3), "uint8"))
    >>> heatmaps.shape, outputs.shape, bool(heatmaps.min() >= 0 and heatmaps.max() <= 1)
    ((2, 32, 32), (2, 2), True)
    """
    to_map, from_map = feature_map_models(model.backbone)
    logits = logits_function(model.head)
    x = model.prepare(np.asarray(images))[0]
    feature_map = to_map(x, training=False)
    with tf.GradientTape() as tape:
        tape.watch(feature_map)
        base = feature_map if from_map is None else from_map(feature_map, training=False)
        scores = logits(model.pool(base))
        chosen = np.asarray(scores).argmax(axis=-1) if targets is None else np.asarray(targets)
        score = tf.gather(scores, chosen, axis=1, batch_dims=1)
    gradients = tape.gradient(score, feature_map)
    weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * feature_map, axis=-1))[..., tf.newaxis]
    cam = tf.image.resize(cam, np.asarray(images).shape[1:3], method="bilinear")[..., 0].numpy()
    highest = cam.reshape(len(cam), -1).max(axis=1).reshape(-1, 1, 1)
    heatmaps = np.divide(cam, highest, out=np.zeros_like(cam), where=highest > 0)
    probabilities = np.exp(np.asarray(log_probabilities(model, scores)))
    return heatmaps.astype(np.float32), probabilities


def explain_images(model, inputs, target=None, batch_size=32):
    """Grad-CAM of each image of ``inputs`` (paths, PIL images, arrays: what `predict`
    takes), ``batch_size`` images at a time: one dict per image with ``"image"`` (uint8, the
    model's input size), ``"heatmap"``, ``"label"`` and ``"probability"`` (the explained
    class), ``"predicted"`` and ``"figure"``."""
    images = model.preprocessor.coerce(inputs)
    parts = [grad_cam(model, images[start:start + batch_size],
                      None if target is None else [target] * len(images[start:start + batch_size]))
             for start in range(0, len(images), batch_size)]
    heatmaps, outputs = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    names = model.label_names or [str(i) for i in range(model.num_outputs)]
    results = []
    for image, heatmap, output in zip(images, heatmaps, outputs):
        explained = int(output.argmax()) if target is None else target
        label = names[explained]
        probability = float(output[explained])
        results.append({
            "image": image, "heatmap": heatmap, "label": label, "probability": probability,
            "predicted": names[int(output.argmax())],
            "figure": heatmap_figure(image, heatmap, f"{label} {probability:.2f}"),
        })
    return results
