"""Image preprocessing: raw pixels of any size and channel count -> what an image base takes.

`ImagePreprocessor` is the ``preprocessor`` of tl_suite image models: gray or RGBA batches to
RGB, resize (center crop to the aspect ratio), then the backbone spec's scaling, with keras-hub's
`ImageConverter`. `as_image_batch` turns what users hold (file paths, PIL images, arrays of mixed
sizes) into one uint8 batch for it.
"""

import keras
import keras_hub
import numpy as np
import tensorflow as tf
from PIL import Image

_SIXTEEN_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "F")


def pil_to_rgb(image):
    """A PIL image (any mode, first frame) as an RGB PIL image: alpha composited on white,
    16-bit and float images scaled to 8 bits, CMYK/palette converted."""
    image.seek(0)
    mode = image.mode
    if mode in _SIXTEEN_BIT_MODES:
        array = np.asarray(image, dtype=np.float64)
        high = 65535.0 if array.max(initial=0) > 255 else 255.0
        array = np.clip(array / high * 255.0, 0, 255)
        return Image.fromarray(array.astype(np.uint8)).convert("RGB")
    if mode in ("RGBA", "LA", "PA", "P"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def to_uint8_rgb(images, name="images"):
    """``(N, H, W[, 1|3|4])`` pixels in [0, 255] -> uint8 ``(N, H, W, 3)`` (gray repeated,
    alpha composited on white). Refuses images scaled to [0, 1]."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"`{name}` must have shape (N, H, W), (N, H, W, 1), (N, H, W, 3) or (N, H, W, 4). "
            f"Received: {name}.shape={images.shape}."
        )
    if images.dtype != np.uint8:
        if np.issubdtype(images.dtype, np.floating) and images.size and images.max() <= 1.0:
            raise ValueError(
                f"`{name}` looks scaled to [0, 1]; tl_suite models take raw pixels in [0, 255] "
                f"(the model scales them). Pass `{name} * 255`. Received: max={images.max()}."
            )
        images = np.clip(np.round(images), 0, 255).astype(np.uint8)
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    elif images.shape[-1] == 4:
        alpha = images[..., 3:].astype(np.float32) / 255.0
        images = np.round(images[..., :3] * alpha + 255.0 * (1 - alpha)).astype(np.uint8)
    return images


def _one_image(item, index):
    """One user image (path, PIL image or array) -> uint8 ``(H, W, 3)``."""
    if isinstance(item, (str, bytes)) or hasattr(item, "__fspath__"):
        try:
            with Image.open(item) as image:
                return np.asarray(pil_to_rgb(image))
        except (OSError, SyntaxError, ValueError) as error:
            raise ValueError(
                f"Could not read image file {str(item)!r} ({error}). Pass a readable JPEG/PNG/... "
                f"file, a PIL image or an array. Received: inputs[{index}]={str(item)!r}."
            ) from None
    if isinstance(item, Image.Image):
        return np.asarray(pil_to_rgb(item))
    array = np.asarray(item)
    if array.ndim not in (2, 3):
        raise ValueError(
            "Each image must be (H, W) or (H, W, C) with C in 1, 3, 4. "
            f"Received: inputs[{index}].shape={array.shape}."
        )
    return to_uint8_rgb(array[np.newaxis], name=f"inputs[{index}]")[0]


def _is_batch(array):
    """``(N, H, W, C)``, or ``(N, H, W)`` gray images (a 3-D array whose last axis is not a
    channel count 1, 3 or 4; such an array is one ``(H, W, C)`` image)."""
    return array.ndim == 4 or (array.ndim == 3 and array.shape[-1] not in (1, 3, 4))


def as_image_batch(inputs, image_size):
    """What users hold -> one uint8 ``(N, height, width, 3)`` batch.

    ``inputs``: a file path, a PIL image, one image array ``(H, W[, C])``, a batch array
    ``(N, H, W, C)`` or ``(N, H, W)`` (gray; a 3-D array whose last axis is 1, 3 or 4 is one
    image), or a list of any of these (sizes and channel counts may differ: each
    image is resized like the model does, center crop to the aspect ratio).
    """
    if isinstance(inputs, (tf.Tensor, np.ndarray)) and _is_batch(np.asarray(inputs)):
        return to_uint8_rgb(np.asarray(inputs), name="inputs")
    if isinstance(inputs, (str, bytes, Image.Image)) or hasattr(inputs, "__fspath__") or (
            isinstance(inputs, (tf.Tensor, np.ndarray)) and np.ndim(inputs) in (2, 3)):
        inputs = [np.asarray(inputs) if isinstance(inputs, tf.Tensor) else inputs]
    images = [_one_image(item, index) for index, item in enumerate(inputs)]
    if not images:
        raise ValueError("No images to predict on. Received: inputs=[] (empty).")
    resize = keras.layers.Resizing(*image_size, crop_to_aspect_ratio=True)
    resized = [np.asarray(resize(tf.cast(image, tf.float32))) for image in images]
    return np.clip(np.round(np.stack(resized)), 0, 255).astype(np.uint8)


@keras.saving.register_keras_serializable(package="tl_suite")
class ImagePreprocessor(keras_hub.models.Preprocessor):
    """Raw pixels (uint8 or float in [0, 255], 1, 3 or 4 channels, any size) -> base input.

    It takes batches, as tf.data gives them: ``(N, H, W, C)``, or ``(N, H, W)`` gray. (One
    unbatched image or a list of mixed sizes: use `coerce` / `model.predict`, which batch them.)

    Gray is repeated to RGB and alpha composited on white; images are resized to ``image_size``
    (center crop to the aspect ratio, bilinear); then optionally flipped to BGR and scaled as
    ``x * scale + offset`` (the backbone spec's values), all with keras-hub's `ImageConverter`.

    Args:
        image_size: ``(height, width)`` the base takes.
        scale: Multiplier (scalar or per channel) after resizing; None for none.
        offset: Added after ``scale`` (scalar or per channel); None for none.
        bgr: Flip RGB to BGR before scaling (Caffe-style bases such as ResNet50).
        layers: Extra Keras layers applied last (from a spec's deprecated
            ``make_preprocessing``); serialized with the preprocessor.

    Example:
    >>> import numpy as np
    >>> preprocessor = ImagePreprocessor((4, 4), scale=1 / 127.5, offset=-1.0)
    >>> x = preprocessor(np.full((2, 8, 6), 255, "uint8"))  # gray, any size
    >>> x.shape, float(x.numpy().max())
    (TensorShape([2, 4, 4, 3]), 1.0)
    """

    def __init__(self, image_size=(224, 224), scale=None, offset=None, bgr=False, layers=None,
                 **kwargs):
        kwargs.pop("image_converter", None)  # rebuilt below from the arguments it was made of
        super().__init__(**kwargs)
        self.target_size = tuple(image_size)
        self.scale, self.offset, self.bgr = scale, offset, bgr
        # Extra layers after the scaling: what a (deprecated) `make_preprocessing` spec gave.
        self.extra_layers = [keras.layers.deserialize(layer) if isinstance(layer, dict) else layer
                             for layer in layers or []]
        self.image_converter = keras_hub.layers.ImageConverter(
            image_size=self.target_size, scale=scale, offset=offset, crop_to_aspect_ratio=True,
            interpolation="bilinear", dtype="float32",
        )

    def call(self, x, y=None, sample_weight=None):
        x = tf.cast(x, tf.float32)
        if x.shape.rank == 3:  # a batch of gray images without a channel axis
            x = x[..., tf.newaxis]
        channels = x.shape[-1]
        if channels == 1:
            x = tf.tile(x, [1, 1, 1, 3])
        elif channels == 4:
            alpha = x[..., 3:] / 255.0
            x = x[..., :3] * alpha + 255.0 * (1.0 - alpha)
        elif channels != 3:
            raise ValueError(
                "Images must have 1 (gray), 3 (RGB) or 4 (RGBA) channels. "
                f"Received: a batch of shape {x.shape}."
            )
        if self.bgr:
            x = tf.reverse(x, axis=[-1])
        x = self.image_converter(x)
        for layer in self.extra_layers:
            x = layer(x)
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    def coerce(self, inputs):
        """Users' images (paths, PIL images, arrays of mixed sizes) -> one uint8 batch."""
        return as_image_batch(inputs, self.target_size)

    def get_config(self):
        config = super().get_config()
        config.update({"image_size": list(self.target_size), "scale": self.scale,
                       "offset": self.offset, "bgr": self.bgr,
                       "layers": [keras.layers.serialize(layer) for layer in self.extra_layers]})
        return config
