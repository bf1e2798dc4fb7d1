"""`image_dataset`: image tf.data pipelines from class folders, NumPy arrays or TFDS names.

The pipeline runs as named steps, each usable alone: `read_images` (directory / arrays / TFDS)
-> `check_image_arrays` -> `encode_label_array` -> `split_indices` -> `image_pipeline`
(decode, cache, shuffle, batch, augment), and every dataset gets its `DatasetInfo`.
"""

from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from tl_suite.backbones.registry import get_image_backbone
from tl_suite.data.image_files import DEFAULT_MAX_IMAGE_PIXELS, decode_image_file, scan_image_directory
from tl_suite.data.info import DatasetInfo
from tl_suite.data.labels import encode_label_array
from tl_suite.data.pipeline import AUTOTUNE, cache_and_shuffle, check_one_source, finish
from tl_suite.data.split import check_split, select_subset, split_indices
from tl_suite.data.tfds import load_tfds
from tl_suite.preprocessing.image import to_uint8_rgb
from tl_suite.validation import check_integer

# Decoded images are large: the shuffle buffer holds at most this many.
SHUFFLE_BUFFER = 10_000


class ImageSource(NamedTuple):
    """What `read_images` found: ``examples`` (file paths when ``files``, else uint8 RGB
    images), raw ``labels``, ``class_names`` (or None) and a `DataReport` (files only)."""

    examples: np.ndarray
    labels: np.ndarray
    class_names: list
    report: object
    files: bool


def check_image_arrays(images, labels):
    """Images given as arrays -> uint8 RGB ``(N, H, W, 3)``; ``labels`` must match them and
    float images must be finite (NaN or inf pixels are an error naming the images)."""
    if labels is None or len(labels) != len(images):
        raise ValueError(
            "`labels` must be given with `images`, one per image. Received: "
            f"len(images)={len(images)}, len(labels)={None if labels is None else len(labels)}."
        )
    images = np.asarray(images)
    if np.issubdtype(images.dtype, np.floating):
        bad = np.flatnonzero(~np.isfinite(images.reshape(len(images), -1)).all(axis=1))
        if bad.size:
            raise ValueError(
                f"{bad.size} of {len(images)} images hold NaN or inf pixels (first: images"
                f"{bad[:5].tolist()}). Fix or drop them, e.g. keep = "
                "np.isfinite(images).reshape(len(images), -1).all(axis=1); images, labels = "
                f"images[keep], labels[keep]. Received: images with non-finite pixels at "
                f"indices {bad[:5].tolist()}{' ...' if bad.size > 5 else ''}."
            )
    return to_uint8_rgb(images), np.asarray(labels)


def read_images(directory=None, images=None, labels=None, tfds_name=None, tfds_split="train",
                class_names=None, image_size=(224, 224), max_image_pixels=DEFAULT_MAX_IMAGE_PIXELS,
                min_image_size=8, verbose=True):
    """The read step of `image_dataset`: one source -> an `ImageSource`."""
    if directory is not None:
        paths, ids, report = scan_image_directory(
            directory, class_names=class_names, max_image_pixels=max_image_pixels,
            min_image_size=min_image_size, verbose=verbose,
        )
        return ImageSource(np.asarray(paths), ids, report.class_names, report, True)
    if images is not None:
        pixels, labels = check_image_arrays(images, labels)
        return ImageSource(pixels, labels, class_names, None, False)

    def resize(image):
        return tf.image.resize(image, image_size, antialias=True).numpy()

    examples, ids, names = load_tfds(tfds_name, tfds_split, "image", resize, verbose)
    return ImageSource(to_uint8_rgb(np.stack(examples)), ids, class_names or names, None, False)


def make_augmenter(flip=True, rotation=0.1, zoom=0.1, translation=0.1, contrast=0.1, seed=None):
    """Return a `keras.Sequential` of Keras preprocessing layers for training images
    (pixels in [0, 255]); a strength of 0/False leaves that layer out."""
    layers = []
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if rotation:
        layers.append(keras.layers.RandomRotation(rotation, fill_mode="reflect", seed=seed))
    if zoom:
        layers.append(keras.layers.RandomZoom(zoom, fill_mode="reflect", seed=seed))
    if translation:
        layers.append(keras.layers.RandomTranslation(translation, translation, fill_mode="reflect", seed=seed))
    if contrast:
        layers.append(keras.layers.RandomContrast(contrast, value_range=(0, 255), seed=seed))
    return keras.Sequential(layers, name="augmentation")


def make_mixers(mixup=False, cutmix=False, seed=None):
    """Keras `MixUp` / `CutMix` layers, in that order (empty list for neither)."""
    return ([keras.layers.MixUp(seed=seed)] if mixup else []) + (
        [keras.layers.CutMix(seed=seed)] if cutmix else [])


def soft_labels(labels, num_classes):
    """Integer ids -> one-hot float rows; rows (multi-hot, one-hot) -> float32."""
    labels = tf.convert_to_tensor(labels)
    if labels.shape.rank == 1:
        return tf.one_hot(labels, num_classes)
    return tf.cast(labels, tf.float32)


class _BatchSeed(keras.random.SeedGenerator):
    """The seeds of one batch's random draws: draw ``k`` gets ``fold_in(seed, k)``.

    Keras random layers draw from a `keras.random.SeedGenerator` whose state variable every
    call updates; in a parallel ``Dataset.map`` the batches race for it, so the same seed gives
    other augmentations in every process. Keras random ops take only an int or a
    ``SeedGenerator`` as seed, so this one stands in for the layer's generator with stateless
    seeds (it holds no variable, hence no ``super().__init__``).
    """

    def __init__(self, seed):
        self._seed = tf.cast(seed, tf.int64)
        self._draws = 0

    def next(self, ordered=True):
        self._draws += 1
        return tf.random.experimental.stateless_fold_in(self._seed, self._draws)


def _apply_random_layer(layer, images, labels, seed, mixes_labels):
    data = {"images": images, "labels": labels} if mixes_labels else images
    transformation = layer.get_random_transformation(data, training=True, seed=_BatchSeed(seed))
    images = layer.transform_images(images, transformation, training=True)
    if mixes_labels:
        labels = layer.transform_labels(labels, transformation, training=True)
    return images, labels


def augment_batch(images, labels, augmenter, mixers=(), num_classes=None, seed=None):
    """Augment one batch (MixUp / CutMix make the labels soft one-hot rows); uint8 out.

    With ``seed`` (two integers, a tensor inside tf.data) every random draw is a function of
    it alone (stateless), so a batch is augmented the same way in every process; without it
    the layers draw from their own seed generators.
    """
    if seed is not None and keras.backend.backend() == "tensorflow":
        augmented = tf.cast(images, tf.float32)
        labels = soft_labels(labels, num_classes) if mixers else labels
        for index, layer in enumerate([*augmenter.layers, *mixers]):
            augmented, labels = _apply_random_layer(
                layer, augmented, labels, tf.random.experimental.stateless_fold_in(
                    tf.cast(seed, tf.int64), index), index >= len(augmenter.layers))
        return tf.cast(tf.clip_by_value(tf.round(augmented), 0, 255), tf.uint8), labels
    augmented = augmenter(tf.cast(images, tf.float32), training=True)
    if mixers:
        data = {"images": augmented, "labels": soft_labels(labels, num_classes)}
        for mixer in mixers:
            data = mixer(data, training=True)
        augmented, labels = data["images"], data["labels"]
    return tf.cast(tf.clip_by_value(tf.round(augmented), 0, 255), tf.uint8), labels


def augment_batches(dataset, augmenter, mixers=(), num_classes=None, seed=1337):
    """Augment every ``(images, labels)`` batch of ``dataset`` with one stateless seed per
    batch: ``(seed, a draw of tf.data.Dataset.random(seed))``. The draws are new at each
    iteration (epoch), and the same in every process for the same ``seed``, so epoch ``k`` of
    a fresh process is augmented like epoch ``k`` of any other. Not exact for a resumed run: a
    new dataset object starts again at the first epoch's draws."""
    draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    base = tf.constant(seed or 0, tf.int64)
    return tf.data.Dataset.zip(dataset, draws).map(
        lambda batch, draw: augment_batch(*batch, augmenter, mixers, num_classes,
                                          seed=tf.stack([base, draw])),
        num_parallel_calls=AUTOTUNE)


def image_pipeline(examples, labels, training, image_size=None, batch_size=32, cache=True,
                   shuffle=True, seed=1337, augmenter=None, mixers=(), num_classes=None):
    """The pipeline step of `image_dataset`: ``(examples, labels)`` -> batched tf.data.

    ``examples`` are file paths (decoded and resized to ``image_size``) or uint8 images
    (``image_size=None``). Training data is shuffled and augmented (``augmenter`` and
    ``mixers``); with ``mixers`` every subset gets one-hot labels, so they batch alike.
    """
    dataset = tf.data.Dataset.from_tensor_slices((examples, labels))
    if image_size is not None:
        dataset = dataset.map(lambda path, label: (decode_image_file(path, image_size), label),
                              num_parallel_calls=AUTOTUNE)
    dataset = cache_and_shuffle(dataset, cache, training and shuffle, len(labels), seed, SHUFFLE_BUFFER)
    dataset = dataset.batch(batch_size)
    if training and augmenter is not None:
        return augment_batches(dataset, augmenter, mixers, num_classes, seed)
    if mixers:
        return dataset.map(lambda x, y: (x, soft_labels(y, num_classes)), num_parallel_calls=AUTOTUNE)
    return dataset


def image_dataset(
    directory=None,
    images=None,
    labels=None,
    tfds_name=None,
    tfds_split="train",
    class_names=None,
    backbone="efficientnet_lite0",
    image_size=None,
    batch_size=32,
    validation_split=None,
    subset=None,
    seed=1337,
    shuffle=True,
    augment=False,
    flip=True,
    rotation=0.1,
    zoom=0.1,
    translation=0.1,
    contrast=0.1,
    mixup=False,
    cutmix=False,
    cache=True,
    max_image_pixels=DEFAULT_MAX_IMAGE_PIXELS,
    min_image_size=8,
    verbose=True,
):
    """Make batched ``(uint8 RGB images, labels)`` datasets for tl_suite models.

    Give exactly one source: ``directory`` (one sub-folder per class), ``images`` with
    ``labels`` (NumPy arrays), or ``tfds_name`` (a TensorFlow Datasets name; needs internet the
    first time). Images become 3-channel uint8 (grayscale repeated, alpha composited on white);
    images from files are resized to the backbone's input size so they batch together. Float
    images or float labels holding NaN or inf are an error naming the first of them.

    Split like `keras.utils.image_dataset_from_directory`: ``validation_split=0.2`` with
    ``subset="training"``, ``"validation"`` or ``"both"`` (returns ``(train, validation)``),
    seeded so the two subsets never overlap. Augmentation (Keras preprocessing layers, optional
    MixUp/CutMix) is applied to training data only. Each returned dataset carries a
    `DatasetInfo` (``dataset.info``, kept through ``dataset.map(...)``: read it with
    `tl_suite.dataset_info`): class names, number of examples, whether it is shuffled and
    augmented, and for directories the ``report`` (a `DataReport` of what was skipped or
    converted); ``dataset.class_names`` and ``dataset.report`` are shortcuts.

    Args:
        directory: Folder of class folders.
        images: Array of shape (N, H, W[, C]), uint8 or float in [0, 255].
        labels: Integer class ids (N,), multi-hot (N, K) or float regression targets.
        tfds_name: TensorFlow Datasets name, e.g. ``"tf_flowers"`` (online only).
        tfds_split: TFDS split to read.
        class_names: Class order (directory) or names for integer labels (arrays).
        backbone: Backbone name whose input size files are resized to.
        image_size: ``(height, width)`` override for files.
        batch_size: Batch size.
        validation_split: Fraction held out for validation, or None.
        subset: ``"training"``, ``"validation"`` or ``"both"`` with ``validation_split``.
        seed: Seed for the split, shuffling and augmentation: the same seed gives the same
            augmented batches in every process (epoch by epoch; epochs differ).
        shuffle: Shuffle training data every epoch.
        augment: Augment training data (flip, rotation, zoom, translation, contrast).
        flip, rotation, zoom, translation, contrast: Augmentation strengths (0/False disables).
        mixup, cutmix: Also apply MixUp / CutMix (labels become one-hot in every subset).
        cache: Cache decoded images in memory (True), in a file path prefix (str) or not (False).
        max_image_pixels: Files with more pixels are skipped (decompression-bomb guard).
        min_image_size: Files smaller than this many pixels on a side are skipped.
        verbose: Show progress and print the scan report.

    Returns:
        One `tf.data.Dataset`, or ``(train, validation)`` when ``subset="both"``.

    Example:
    >>> import numpy as np, tl_suite
    >>> data = tl_suite.image_dataset(images=np.zeros((10, 28, 28), "uint8"),
    ...                               labels=np.arange(10) % 2, batch_size=4, verbose=False)
    >>> images, labels = next(iter(data))
    >>> images.shape, images.dtype.name
    (TensorShape([4, 28, 28, 3]), 'uint8')
    >>> data.info.class_names, data.info.num_examples, data.info.augmented
    (['0', '1'], 10, False)
    """
    check_one_source("`directory`, `images` (with `labels`) or `tfds_name`",
                     directory=directory, images=images, tfds_name=tfds_name)
    check_split(validation_split, subset)
    check_integer("batch_size", batch_size)
    size = tuple(image_size or get_image_backbone(backbone).input_size)
    source = read_images(directory, images, labels, tfds_name, tfds_split, class_names, size,
                         max_image_pixels, min_image_size, verbose)
    encoded, class_names, label_mode = encode_label_array(source.labels, source.class_names)
    if verbose and source.report is not None:
        print(source.report)
    mixers = make_mixers(mixup, cutmix, seed) if augment else []
    augmenter = make_augmenter(flip, rotation, zoom, translation, contrast, seed=seed) if augment else None
    options = dict(image_size=size if source.files else None, batch_size=batch_size, cache=cache,
                   shuffle=shuffle, seed=seed, augmenter=augmenter, mixers=mixers,
                   num_classes=len(class_names) if class_names is not None else None)
    info = DatasetInfo(kind="image", class_names=class_names, report=source.report,
                       label_mode="one_hot" if mixers and label_mode == "int" else label_mode)

    def make(indices, training):
        dataset = image_pipeline(source.examples[indices], encoded[indices], training, **options)
        return finish(dataset, info.replace(num_examples=len(indices), shuffled=bool(training and shuffle),
                                            augmented=bool(training and augment)))

    return select_subset(split_indices(len(encoded), validation_split, subset, seed), make, subset,
                         validation_split, seed)
