"""The backbone registry and the built-in image specs."""

import numpy as np
import pytest

import tl_suite
from tl_suite import backbones
from tl_suite.backbones import image as image_backbones
from tl_suite.backbones import text as text_backbones


def test_registry_lists_real_backbones_and_hides_test_ones():
    names = tl_suite.list_backbones()
    assert {"efficientnet_lite0", "resnet50", "mobilenet_v2", "efficientnet_b0", "minilm_l6"} <= set(names)
    assert "tiny_efficientnet_lite" not in names
    assert "tiny_efficientnet_lite" in tl_suite.list_backbones(include_test_only=True)
    assert tl_suite.list_backbones("text") == ["minilm_l6"]
    assert "minilm_l6" not in tl_suite.list_backbones("image")
    with pytest.raises(ValueError, match="Received: kind='audio'"):
        tl_suite.list_backbones("audio")


def test_unknown_backbone_error_names_choices_and_received():
    with pytest.raises(ValueError, match=r"Received: backbone='resnet51'") as info:
        tl_suite.get_backbone("resnet51")
    assert "efficientnet_lite0" in str(info.value)


def test_get_backbone_resolves_names_specs_and_keras_hub_presets():
    spec = tl_suite.get_backbone("efficientnet_lite0")
    assert tl_suite.get_backbone(spec) is spec
    assert tl_suite.get_backbone("minilm_l6") is text_backbones.MINILM_L6
    preset = tl_suite.get_backbone("bert_tiny_en_uncased")  # a spec only: nothing downloaded
    assert preset.kind == "text" and preset.pooling == "pooler" and not preset.offline_weights


def test_a_backbone_of_the_wrong_kind_is_a_clear_error():
    with pytest.raises(ValueError, match="text backbone.*Received: backbone='minilm_l6'"):
        backbones.get_image_backbone("minilm_l6")
    with pytest.raises(ValueError, match="image backbone.*Received: backbone='resnet50'"):
        backbones.get_text_backbone("resnet50")


def test_spec_owns_preprocessing():
    spec = tl_suite.get_backbone("efficientnet_lite0")
    assert spec.input_size == (224, 224) and spec.offline_weights
    preprocessor = spec.make_preprocessor()
    assert preprocessor.target_size == (224, 224)
    values = np.asarray(spec.make_preprocessor((1, 1))(np.array([[[[0.0, 127.5, 255.0]]]])))
    np.testing.assert_allclose(values[0, 0, 0], [-1.0, 0.0, 1.0], atol=1e-6)
    assert spec.make_preprocessor((64, 32)).target_size == (64, 32)


def test_resnet50_preprocessing_flips_to_bgr_and_subtracts_means():
    preprocessor = tl_suite.get_backbone("resnet50").make_preprocessor((1, 1))
    assert preprocessor.bgr and preprocessor.scale is None
    out = np.asarray(preprocessor(np.array([[[[10.0, 20.0, 30.0]]]])))
    np.testing.assert_allclose(out[0, 0, 0], [30 - 103.939, 20 - 116.779, 10 - 123.68], rtol=1e-5)


def test_efficientnet_b0_scales_inside_its_base():
    preprocessor = tl_suite.get_backbone("efficientnet_b0").make_preprocessor((1, 1))
    out = np.asarray(preprocessor(np.array([[[[10.0, 20.0, 30.0]]]])))
    np.testing.assert_allclose(out[0, 0, 0], [10.0, 20.0, 30.0], rtol=1e-6)  # raw pixels


def test_resnet50_imagenet_offline_fails_at_once_naming_alternatives():
    def offline_resnet50(**kwargs):
        raise Exception("URL fetch failure on https://example/resnet50.h5: [Errno -2]")

    make_base = image_backbones.keras_application(offline_resnet50, "resnet50")
    with pytest.raises(RuntimeError) as info:
        make_base("imagenet", (224, 224, 3))
    message = str(info.value)
    assert "efficientnet_lite0" in message and "weights='/path/to/resnet50" in message


def test_resnet50_random_init_builds_headless_base():
    base = backbones.build_base("resnet50", weights=None, input_shape=(64, 64, 3))
    assert base.output_shape == (None, 2, 2, 2048)


def test_missing_weights_file_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="Received: weights='nope.weights.h5'"):
        backbones.build_base("efficientnet_lite0", weights="nope.weights.h5")


def test_local_weights_file_is_loaded(tmp_path):
    base = backbones.build_base("tiny_efficientnet_lite", weights=None)
    path = str(tmp_path / "tiny.weights.h5")
    base.save_weights(path)
    again = backbones.build_base("tiny_efficientnet_lite", weights=path)
    for a, b in zip(base.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=2, weights=path)
    for a, b in zip(base.get_weights(), model.backbone.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_test_only_backbone_refuses_imagenet():
    with pytest.raises(ValueError, match="weights=None"):
        backbones.build_base("tiny_efficientnet_lite", weights="imagenet")
