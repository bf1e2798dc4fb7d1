import pickle

import keras
import numpy as np
import pytest
from sklearn.datasets import load_sample_images

import tl_suite
from tl_suite import backbones
from tl_suite.backbones import efficientnet_lite, torch_reader


def test_registry_lists_real_backbones_and_hides_test_ones():
    names = tl_suite.list_backbones()
    assert {"efficientnet_lite0", "resnet50", "mobilenet_v2", "efficientnet_b0"} <= set(names)
    assert "tiny_efficientnet_lite" not in names
    assert "tiny_efficientnet_lite" in tl_suite.list_backbones(include_test_only=True)


def test_unknown_backbone_error_names_choices_and_received():
    with pytest.raises(ValueError, match=r"Received: backbone='resnet51'") as info:
        tl_suite.get_backbone("resnet51")
    assert "efficientnet_lite0" in str(info.value)


def test_spec_owns_preprocessing():
    spec = tl_suite.get_backbone("efficientnet_lite0")
    assert spec.input_size == (224, 224) and spec.offline_weights
    scale = spec.make_preprocessing()[0]
    values = keras.ops.convert_to_numpy(scale(np.array([[0.0, 127.5, 255.0]])))
    np.testing.assert_allclose(values, [[-1.0, 0.0, 1.0]])


def test_caffe_preprocessing_flips_to_bgr_and_subtracts_means():
    layer = backbones.CaffePreprocessing()
    out = keras.ops.convert_to_numpy(layer(np.array([[[[10.0, 20.0, 30.0]]]])))
    np.testing.assert_allclose(out[0, 0, 0], [30 - 103.939, 20 - 116.779, 10 - 123.68], rtol=1e-5)


def test_torch_reader_reads_every_lite0_parameter():
    state = torch_reader.read_torch_state_dict(efficientnet_lite.lite0_torch_weights_path())
    floats = sum(v.size for v in state.values() if v.dtype == np.float32)
    assert len(state) == 296 and floats == 4_694_024
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_bn0.num_batches_tracked"].dtype == np.int64


def test_torch_reader_refuses_code_in_pickles(tmp_path):
    class Evil:
        def __reduce__(self):
            import os
            return (os.system, ("echo owned",))

    path = tmp_path / "evil.pth"
    with open(path, "wb") as file:
        for header in (0x1950A86A20F9469CFC6C, 1001, {}):
            pickle.dump(header, file)
        pickle.dump({"x": Evil()}, file)
    with pytest.raises(pickle.UnpicklingError, match="Refusing to load"):
        torch_reader.read_torch_state_dict(path)


def test_resnet50_imagenet_offline_fails_at_once_naming_alternatives():
    def offline_resnet50(**kwargs):
        raise Exception("URL fetch failure on https://example/resnet50.h5: [Errno -2]")

    make_base = backbones._keras_application(offline_resnet50, "resnet50")
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


def test_test_only_backbone_refuses_imagenet():
    with pytest.raises(ValueError, match="weights=None"):
        backbones.build_base("tiny_efficientnet_lite", weights="imagenet")


def test_lite0_imagenet_head_recognises_sample_photos():
    """Real weights: china.jpg is a palace (698), flower.jpg a daisy (985), as in torch."""
    model = efficientnet_lite.build_efficientnet_lite(include_top=True)
    efficientnet_lite.load_converted_weights(model, efficientnet_lite.lite0_imagenet_weights())
    images = load_sample_images().images
    prepare = keras.Sequential([
        keras.layers.Resizing(224, 224, crop_to_aspect_ratio=True),
        *tl_suite.get_backbone("efficientnet_lite0").make_preprocessing(),
    ])
    logits = model.predict(prepare(np.stack(images).astype("float32")), verbose=0)
    assert list(logits.argmax(axis=1)) == [698, 985]


def test_converted_weights_are_cached_and_not_converted_again(monkeypatch):
    first = efficientnet_lite.lite0_imagenet_weights(verbose=False)

    def fail(*args):
        raise AssertionError("converted again")

    monkeypatch.setattr(efficientnet_lite, "read_torch_state_dict", fail)
    second = efficientnet_lite.lite0_imagenet_weights(verbose=False)
    assert first.keys() == second.keys()
    np.testing.assert_array_equal(first["top_conv"][0], second["top_conv"][0])
