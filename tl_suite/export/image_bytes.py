"""Encoded image bytes -> the uint8 batch an image model's preprocessor takes, in TF ops.

The same steps as `tl_suite.predict` on image files (PIL there, TensorFlow here): the first
frame, RGB, alpha composited on white, then each image resized to the model's input size
(center crop to its aspect ratio) and rounded to uint8, so both give the same pixels.
"""

import keras
import tensorflow as tf

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _jpeg(data):
    # INTEGER_ACCURATE is libjpeg's default DCT, the one PIL decodes with.
    return tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE")


def _png(data):
    rgba = tf.cast(tf.io.decode_png(data, channels=4), tf.float32)
    alpha = rgba[..., 3:] / 255.0
    return tf.cast(tf.round(rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)), tf.uint8)


def _other(data):
    return tf.io.decode_image(data, channels=3, expand_animations=False)  # GIF, BMP, WebP


def decode_image(data):
    """One encoded image (JPEG, PNG, GIF, BMP, WebP; a scalar string) -> uint8 ``(H, W, 3)``.

    Example:
    >>> import io, numpy as np
    >>> from PIL import Image
    >>> buffer = io.BytesIO()
    >>> Image.fromarray(np.full((4, 6, 4), 255, "uint8")).save(buffer, "PNG")  # RGBA
    >>> decode_image(tf.constant(buffer.getvalue())).shape
    TensorShape([4, 6, 3])
    """
    is_png = tf.equal(tf.strings.substr(data, 0, len(_PNG_SIGNATURE)), _PNG_SIGNATURE)
    image = tf.case([(tf.io.is_jpeg(data), lambda: _jpeg(data)), (is_png, lambda: _png(data))],
                    default=lambda: _other(data))
    return tf.ensure_shape(image, [None, None, 3])


def decode_images(images, image_size):
    """A batch of encoded images (strings ``(N,)``) -> uint8 ``(N, height, width, 3)``,
    each resized like `tl_suite.predict` resizes images of mixed sizes."""
    height, width = image_size
    resize = keras.layers.Resizing(height, width, crop_to_aspect_ratio=True)

    def one(data):
        resized = resize(tf.cast(decode_image(data), tf.float32))
        return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)

    return tf.map_fn(one, images, fn_output_signature=tf.TensorSpec((height, width, 3), tf.uint8))
