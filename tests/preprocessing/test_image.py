"""Image preprocessing: raw pixels of any size and channel count -> what an image base takes."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tl_suite.preprocessing.image import ImagePreprocessor, as_image_batch, pil_to_rgb, to_uint8_rgb


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


@pytest.mark.parametrize("shape", [(2, 10, 14), (2, 10, 14, 1), (2, 10, 14, 3), (2, 10, 14, 4),
                                   (1, 300, 7, 3)])
def test_any_channel_count_and_size_becomes_rgb_at_the_target_size(shape):
    preprocessor = ImagePreprocessor((6, 8))
    images = np.full(shape, 100, "uint8")
    if shape[-1] == 4:
        images[..., 3] = 255  # opaque
    x = _numpy(preprocessor(images))
    assert x.shape == (shape[0], 6, 8, 3) and x.dtype == np.float32
    np.testing.assert_allclose(x, 100.0, atol=1e-4)  # no scaling without scale / offset


def test_gray_is_repeated_to_the_three_channels():
    gray = np.arange(16, dtype="uint8").reshape(1, 4, 4) * 10
    x = _numpy(ImagePreprocessor((4, 4))(gray))
    for channel in range(3):
        np.testing.assert_allclose(x[0, ..., channel], gray[0], atol=1e-4)


def test_alpha_is_composited_on_white():
    rgba = np.zeros((1, 2, 2, 4), "uint8")
    rgba[0, 0, 0] = [200, 0, 0, 255]  # opaque red
    rgba[0, 0, 1] = [200, 0, 0, 0]  # transparent: white
    rgba[0, 1, :] = [0, 0, 0, 51]  # 20% black over white
    x = _numpy(ImagePreprocessor((2, 2))(rgba))
    np.testing.assert_allclose(x[0, 0, 0], [200, 0, 0], atol=1e-3)
    np.testing.assert_allclose(x[0, 0, 1], [255, 255, 255], atol=1e-3)
    np.testing.assert_allclose(x[0, 1, 0], [204, 204, 204], atol=1e-3)


def test_resize_crops_the_centre_to_the_aspect_ratio():
    image = np.zeros((1, 4, 8, 3), "uint8")
    image[:, :, :2, 0] = 255  # red left edge, green centre, blue right edge
    image[:, :, 2:6, 1] = 255
    image[:, :, 6:, 2] = 255
    x = _numpy(ImagePreprocessor((4, 4))(image))
    np.testing.assert_allclose(x.reshape(-1, 3), [[0, 255, 0]] * 16, atol=1e-3)


def test_values_are_scaled_as_the_spec_says():
    images = np.array([[[[0, 127.5, 255]]]], "float32")
    x = _numpy(ImagePreprocessor((1, 1), scale=1 / 127.5, offset=-1.0)(images))
    np.testing.assert_allclose(x[0, 0, 0], [-1.0, 0.0, 1.0], atol=1e-6)
    per_channel = ImagePreprocessor((1, 1), scale=[1.0, 2.0, 0.5], offset=[1.0, -1.0, 0.0])
    np.testing.assert_allclose(_numpy(per_channel(images))[0, 0, 0], [1.0, 254.0, 127.5], rtol=1e-6)


def test_bgr_flips_the_channels_before_the_offset():
    preprocessor = ImagePreprocessor((1, 1), offset=[-103.939, -116.779, -123.68], bgr=True)
    x = _numpy(preprocessor(np.array([[[[10, 20, 30]]]], "uint8")))
    np.testing.assert_allclose(x[0, 0, 0], [30 - 103.939, 20 - 116.779, 10 - 123.68], rtol=1e-5)


def test_five_channels_are_refused():
    with pytest.raises(ValueError, match="1 \\(gray\\), 3 \\(RGB\\) or 4 \\(RGBA\\) channels"):
        ImagePreprocessor((4, 4))(np.zeros((1, 4, 4, 5), "uint8"))


def test_labels_and_sample_weights_pass_through():
    x, y, weights = ImagePreprocessor((2, 2))(np.zeros((2, 5, 5, 3)), y=np.array([1, 0]),
                                              sample_weight=np.array([0.5, 2.0]))
    assert x.shape == (2, 2, 2, 3)
    np.testing.assert_array_equal(y, [1, 0])
    np.testing.assert_array_equal(weights, [0.5, 2.0])


def test_config_round_trip_keeps_the_preprocessing():
    preprocessor = ImagePreprocessor((5, 7), scale=1 / 127.5, offset=[-1.0, -0.5, 0.0], bgr=True)
    config = keras.saving.serialize_keras_object(preprocessor)
    again = keras.saving.deserialize_keras_object(config)
    assert type(again) is ImagePreprocessor
    assert (again.target_size, again.scale, again.offset, again.bgr) == (
        (5, 7), 1 / 127.5, [-1.0, -0.5, 0.0], True)
    images = np.random.default_rng(0).integers(0, 256, (2, 9, 13, 4)).astype("uint8")
    np.testing.assert_allclose(_numpy(again(images)), _numpy(preprocessor(images)), rtol=1e-6)


def test_preprocessor_maps_over_tf_data():
    preprocessor = ImagePreprocessor((3, 3), scale=1 / 255)
    data = tf.data.Dataset.from_tensor_slices(
        (np.full((4, 10, 12), 255, "uint8"), np.arange(4))).batch(2).map(preprocessor)
    batches = list(data)
    assert [tuple(x.shape) for x, _ in batches] == [(2, 3, 3, 3)] * 2
    np.testing.assert_allclose(_numpy(batches[0][0]), 1.0, rtol=1e-6)
    assert _numpy(batches[1][1]).tolist() == [2, 3]


def test_to_uint8_rgb_converts_channels_and_refuses_unit_range_floats():
    gray = to_uint8_rgb(np.full((1, 2, 2), 7.4))
    assert gray.dtype == np.uint8 and gray.shape == (1, 2, 2, 3) and (gray == 7).all()
    rgba = to_uint8_rgb(np.array([[[[0, 0, 0, 0]]]], "uint8"))
    assert rgba[0, 0, 0].tolist() == [255, 255, 255]
    assert to_uint8_rgb(np.array([[[[300.0, -4.0, 1.6]]]]))[0, 0, 0].tolist() == [255, 0, 2]
    with pytest.raises(ValueError, match=r"scaled to \[0, 1\].*`images \* 255`"):
        to_uint8_rgb(np.random.default_rng(0).random((1, 4, 4, 3)))
    with pytest.raises(ValueError, match=r"Received: images.shape=\(1, 4, 4, 2\)"):
        to_uint8_rgb(np.zeros((1, 4, 4, 2), "uint8"))


def test_pil_to_rgb_handles_every_mode():
    assert pil_to_rgb(Image.new("L", (3, 2), 9)).getpixel((0, 0)) == (9, 9, 9)
    assert pil_to_rgb(Image.new("RGBA", (3, 2), (10, 20, 30, 0))).getpixel((0, 0)) == (255,) * 3
    assert pil_to_rgb(Image.new("LA", (3, 2), (0, 255))).getpixel((0, 0)) == (0, 0, 0)
    sixteen_bit = Image.fromarray(np.full((2, 2), 65535, np.uint16))
    assert pil_to_rgb(sixteen_bit).getpixel((0, 0)) == (255, 255, 255)
    palette = Image.new("P", (2, 2), 0)
    palette.putpalette([200, 100, 50] + [0] * 765)
    assert pil_to_rgb(palette).getpixel((1, 1)) == (200, 100, 50)
    cmyk = pil_to_rgb(Image.new("CMYK", (2, 2), (0, 0, 0, 0)))
    assert cmyk.mode == "RGB" and cmyk.getpixel((0, 0)) == (255, 255, 255)


def test_as_image_batch_takes_paths_pil_images_and_mixed_arrays(tmp_path):
    red = np.zeros((12, 20, 3), "uint8")
    red[..., 0] = 255
    Image.fromarray(red).save(tmp_path / "red.png")
    Image.fromarray(np.full((30, 30), 128, "uint8")).save(tmp_path / "gray.png")
    transparent = np.zeros((8, 8, 4), "uint8")
    inputs = [str(tmp_path / "red.png"), tmp_path / "gray.png", Image.fromarray(transparent),
              np.full((5, 9), 40, "uint8"), np.full((20, 10, 1), 60.0)]
    batch = as_image_batch(inputs, (4, 4))
    assert batch.shape == (5, 4, 4, 3) and batch.dtype == np.uint8
    expected = [[255, 0, 0], [128, 128, 128], [255, 255, 255], [40, 40, 40], [60, 60, 60]]
    np.testing.assert_array_equal(batch[:, 0, 0], expected)
    assert (batch == batch[:, :1, :1]).all()  # uniform images stay uniform


def test_as_image_batch_takes_single_images_and_batches():
    assert as_image_batch(np.zeros((7, 9), "uint8"), (4, 4)).shape == (1, 4, 4, 3)
    assert as_image_batch(np.zeros((7, 9, 3), "uint8"), (4, 4)).shape == (1, 4, 4, 3)
    assert as_image_batch(Image.new("RGB", (5, 5)), (4, 4)).shape == (1, 4, 4, 3)
    batch = np.random.default_rng(0).integers(0, 256, (3, 7, 9, 4)).astype("uint8")
    np.testing.assert_array_equal(as_image_batch(batch, (4, 4)), to_uint8_rgb(batch))  # not resized
    as_tensor = as_image_batch(tf.constant(batch), (4, 4))
    np.testing.assert_array_equal(as_tensor, to_uint8_rgb(batch))


def test_as_image_batch_errors_name_the_input(tmp_path):
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match=r"notes\.txt.*Received: inputs\[1\]"):
        as_image_batch([np.zeros((4, 4), "uint8"), str(tmp_path / "notes.txt")], (4, 4))
    with pytest.raises(ValueError, match=r"missing\.png"):
        as_image_batch(tmp_path / "missing.png", (4, 4))
    with pytest.raises(ValueError, match=r"Received: inputs\[0\].shape=\(2, 2, 2, 2, 3\)"):
        as_image_batch([np.zeros((2, 2, 2, 2, 3))], (4, 4))
    with pytest.raises(ValueError, match=r"scaled to \[0, 1\]"):
        as_image_batch([np.full((4, 4, 3), 0.5)], (4, 4))
    with pytest.raises(ValueError, match="empty"):
        as_image_batch([], (4, 4))
