import keras
import numpy as np
import pytest

import tl_suite
from tl_suite.training.batch_norm_folding import conv_batch_norm_pairs, fold_batch_norm


def _randomise_batch_norm(model):
    rng = np.random.default_rng(0)
    norms = [l for l in model.backbone.layers if isinstance(l, keras.layers.BatchNormalization)]
    for norm in norms:  # non-trivial statistics, as after pretraining
        norm.moving_mean.assign(rng.normal(0, 0.5, norm.moving_mean.shape))
        norm.moving_variance.assign(rng.uniform(0.5, 2.0, norm.moving_variance.shape))
        norm.gamma.assign(rng.uniform(0.5, 1.5, norm.gamma.shape))
        norm.beta.assign(rng.normal(0, 0.2, norm.beta.shape))
    return norms


@pytest.mark.parametrize("backbone", ["tiny_efficientnet_lite", "resnet50"])
def test_folding_batch_norm_computes_the_same_function(backbone):
    keras.utils.set_random_seed(0)
    model = tl_suite.build_image_classifier(backbone, num_classes=3, weights=None)
    assert _randomise_batch_norm(model)
    features = model.features_model()
    before = [np.array(w) for w in model.weights]
    folded = fold_batch_norm(features)
    folded_base = folded.get_layer(model.backbone.name)
    assert not any(isinstance(l, keras.layers.BatchNormalization) for l in folded_base.layers)
    assert folded.get_layer("pool") is model.pool  # layers with nothing to fold are shared
    images, _ = model.prepare(np.random.default_rng(0).integers(0, 256, size=(4, 40, 40, 3)).astype("uint8"))
    np.testing.assert_allclose(np.asarray(folded(images)), np.asarray(features(images, training=False)),
                               rtol=1e-4, atol=1e-4)
    for old, weight in zip(before, model.weights):  # the original model is untouched
        np.testing.assert_array_equal(old, np.array(weight))


def test_only_batch_norms_right_after_a_linear_convolution_are_folded():
    inputs = keras.Input((8, 8, 3))
    conv = keras.layers.Conv2D(2, 3, name="conv")
    x = keras.layers.BatchNormalization(name="foldable")(conv(inputs))
    y = keras.layers.Conv2D(2, 3, activation="relu")(inputs)
    y = keras.layers.BatchNormalization(name="after_activation")(y)
    model = keras.Model(inputs, [x, y])
    assert {c.name: n.name for c, n in conv_batch_norm_pairs(model).items()} == {"conv": "foldable"}


def test_folding_leaves_models_without_batch_norm_alone():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    assert fold_batch_norm(model) is model
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.BatchNormalization()(keras.layers.ReLU()(keras.layers.Conv2D(2, 3)(inputs)))
    unfoldable = keras.Model(inputs, outputs)  # BatchNorm after an activation: not foldable
    assert fold_batch_norm(unfoldable) is unfoldable


def test_text_features_model_has_nothing_to_fold(text_spec):
    model = tl_suite.build_text_classifier(text_spec, num_classes=2, weights=None)
    features = model.features_model()
    assert fold_batch_norm(features) is features
