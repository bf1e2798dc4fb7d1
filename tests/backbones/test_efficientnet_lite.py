"""EfficientNet-Lite0 rebuilt in Keras with ImageNet weights converted from PyTorch."""

import numpy as np
from sklearn.datasets import load_sample_images

import tl_suite
from tl_suite.backbones import efficientnet_lite


def test_lite0_imagenet_head_recognises_sample_photos():
    """Real weights: china.jpg is a palace (698), flower.jpg a daisy (985), as in torch."""
    model = efficientnet_lite.build_efficientnet_lite(include_top=True)
    efficientnet_lite.load_converted_weights(model, efficientnet_lite.lite0_imagenet_weights())
    preprocessor = tl_suite.get_backbone("efficientnet_lite0").make_preprocessor()
    images = np.stack(load_sample_images().images)  # 427 x 640 photos: crop to square, resize
    logits = model.predict(preprocessor(images), verbose=0)
    assert list(logits.argmax(axis=1)) == [698, 985]


def test_converted_weights_are_cached_and_not_converted_again(monkeypatch):
    first = efficientnet_lite.lite0_imagenet_weights(verbose=False)

    def fail(*args):
        raise AssertionError("converted again")

    monkeypatch.setattr(efficientnet_lite, "read_torch_state_dict", fail)
    second = efficientnet_lite.lite0_imagenet_weights(verbose=False)
    assert first.keys() == second.keys()
    np.testing.assert_array_equal(first["top_conv"][0], second["top_conv"][0])


def test_base_keeps_the_lite_architecture():
    base = efficientnet_lite.build_efficientnet_lite(input_shape=(64, 64, 3))
    assert base.output_shape == (None, 2, 2, 1280)
    assert base.count_params() == 3_413_024  # Lite0 without its classifier
    assert not any("swish" in str(getattr(layer, "activation", "")) for layer in base.layers)
