"""Image tf.data pipelines: directories of class folders, NumPy arrays or TFDS names."""

import dataclasses
import hashlib
import os
import warnings

import keras
import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from tl_suite import backbones
from tl_suite._progress import progress

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
# PIL's own decompression-bomb warning threshold (about 89 megapixels).
DEFAULT_MAX_IMAGE_PIXELS = 89_478_485
_AUTOTUNE = tf.data.AUTOTUNE


@dataclasses.dataclass
class ImageScanReport:
    """What a directory scan found: images used, converted and skipped (with reasons)."""

    directory: str
    class_names: list
    used: int = 0
    converted: dict = dataclasses.field(default_factory=dict)
    skipped: list = dataclasses.field(default_factory=list)
    ignored_files: list = dataclasses.field(default_factory=list)
    per_class: dict = dataclasses.field(default_factory=dict)

    def __str__(self):
        lines = [
            f"Scanned {self.directory}: {self.used} images used in {len(self.class_names)} "
            f"classes ({', '.join(f'{n}: {self.per_class.get(n, 0)}' for n in self.class_names)})."
        ]
        for reason, count in sorted(self.converted.items()):
            lines.append(f"  converted {count}: {reason}")
        if self.skipped:
            lines.append(f"  skipped {len(self.skipped)} unreadable or unusable files:")
            for path, reason in self.skipped[:20]:
                lines.append(f"    {path}: {reason}")
            if len(self.skipped) > 20:
                lines.append(f"    ... and {len(self.skipped) - 20} more (see report.skipped)")
        if self.ignored_files:
            lines.append(
                f"  ignored {len(self.ignored_files)} files without an image extension "
                f"{IMAGE_EXTENSIONS}"
            )
        return "\n".join(lines)


def _conversion_path(path, cache_root):
    stat = os.stat(path)
    key = hashlib.sha1(f"{os.path.abspath(path)}:{stat.st_mtime_ns}:{stat.st_size}".encode())
    return os.path.join(cache_root, key.hexdigest() + ".png")


def _inspect_image(path, max_pixels, min_size, cache_root):
    """Return ``(path_to_read, conversion_reason, skip_reason)`` for one file.

    Every file is fully decoded once here, so a corrupt file never reaches tf.data (where it
    would crash mid-epoch). Files TensorFlow decodes natively (8-bit gray/RGB JPEG and PNG) are
    read as they are; others are converted once to an RGB PNG in ``cache_root``.
    """
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > max_pixels:
                return None, None, _bomb_message(f"{width}x{height} pixels", max_pixels)
            if min(width, height) < min_size:
                return None, None, (
                    f"{width}x{height} is smaller than min_image_size={min_size}; remove it or "
                    "lower `min_image_size`"
                )
            image_format, mode = image.format, image.mode
            frames = getattr(image, "n_frames", 1)
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image.load()  # full decode: catches truncated and corrupt data
            if image_format in ("JPEG", "PNG") and mode in ("L", "RGB") and frames == 1:
                return path, None, None
            if frames > 1:
                reason = f"animated {image_format}: first frame used"
            elif mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
                reason = "alpha channel composited on white"
            elif mode == "CMYK":
                reason = "CMYK converted to RGB"
            elif mode.startswith("I") or mode == "F":
                reason = "16-bit or float image scaled to 8-bit RGB"
            else:
                reason = f"{image_format} {mode} converted to RGB"
            target = _conversion_path(path, cache_root)
            if not os.path.exists(target):
                _to_rgb(image, mode).save(target + ".tmp.png")
                os.replace(target + ".tmp.png", target)
            return target, reason, None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        # PIL refuses very large images while reading the header, before our own check.
        return None, None, _bomb_message(str(error).split(" exceeds")[0], max_pixels)
    except UnidentifiedImageError:
        return None, None, "not a readable image (wrong extension or corrupt header)"
    except (OSError, SyntaxError, ValueError) as error:
        return None, None, f"corrupt or truncated image data ({error})"


def _bomb_message(size, max_pixels):
    return (
        f"{size} exceeds max_image_pixels={max_pixels} (decompression-bomb guard); "
        "downscale the file or raise `max_image_pixels`"
    )


def _to_rgb(image, mode):
    image.seek(0)
    if mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        array = np.asarray(image, dtype=np.float64)
        high = array.max() if array.max() > 255 else 255.0
        array = np.clip(array / (65535.0 if high > 255 else 255.0) * 255.0, 0, 255)
        return Image.fromarray(array.astype(np.uint8)).convert("RGB")
    if mode in ("RGBA", "LA", "PA", "P"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def scan_image_directory(directory, class_names=None, max_image_pixels=DEFAULT_MAX_IMAGE_PIXELS,
                         min_image_size=8, verbose=True):
    """Find, check and label every image under ``directory/<class_name>/``.

    Returns:
        ``(paths, labels, report)``: readable file paths (converted copies where needed), their
        integer labels in the order of ``class_names``, and an `ImageScanReport`.
    """
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            "`directory` must be a folder with one sub-folder per class. "
            f"Received: directory={directory!r}."
        )
    found = sorted(
        entry for entry in os.listdir(directory)
        if os.path.isdir(os.path.join(directory, entry)) and not entry.startswith(".")
    )
    if class_names is None:
        class_names = found
    else:
        missing = [name for name in class_names if name not in found]
        if missing:
            raise ValueError(
                f"No folder for classes {missing} in {directory}. Folders found: {found}. "
                f"Received: class_names={list(class_names)}."
            )
    if not class_names:
        raise ValueError(
            f"{directory} has no class sub-folders. Put images in "
            f"{directory}/<class_name>/*.jpg. Received: directory={directory!r}."
        )
    report = ImageScanReport(directory=directory, class_names=list(class_names))
    candidates = []
    for label, name in enumerate(class_names):
        for root, _dirs, files in sorted(os.walk(os.path.join(directory, name))):
            for file_name in sorted(files):
                path = os.path.join(root, file_name)
                if file_name.startswith("."):
                    continue
                if file_name.lower().endswith(IMAGE_EXTENSIONS):
                    candidates.append((path, label))
                else:
                    report.ignored_files.append(path)
    if not candidates:
        raise ValueError(
            f"No image files found under {directory} (extensions {IMAGE_EXTENSIONS}). "
            "Check the path and that images sit in one folder per class."
        )
    cache_root = os.path.join(backbones.efficientnet_lite.cache_dir(), "converted_images")
    os.makedirs(cache_root, exist_ok=True)
    paths, labels = [], []
    bar = progress(len(candidates), f"Checking images in {directory}", verbose, unit="img")
    for path, label in candidates:
        readable, conversion, skip = _inspect_image(path, max_image_pixels, min_image_size, cache_root)
        bar.update(1)
        if skip:
            report.skipped.append((path, skip))
            continue
        if conversion:
            report.converted[conversion] = report.converted.get(conversion, 0) + 1
        paths.append(readable)
        labels.append(label)
        report.per_class[class_names[label]] = report.per_class.get(class_names[label], 0) + 1
    bar.close()
    report.used = len(paths)
    empty = [name for name in class_names if not report.per_class.get(name)]
    if empty:
        raise ValueError(
            f"Class folders with no usable image: {[os.path.join(directory, n) for n in empty]}. "
            "Add images to them, remove the folders, or pass `class_names` without them.\n"
            + str(report)
        )
    return paths, np.array(labels, dtype="int32"), report


def _decode(path, size):
    data = tf.io.read_file(path)
    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    image = tf.image.resize(image, size, method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


def _to_uint8_rgb(images, name="images"):
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


def make_augmenter(flip=True, rotation=0.1, zoom=0.1, translation=0.1, contrast=0.1,
                   mixup=False, cutmix=False, seed=None):
    """Return a `keras.Sequential` of Keras preprocessing layers for training images."""
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


def _mix(images, labels, num_classes, mixers):
    """MixUp / CutMix on a batch (labels become soft one-hot vectors)."""
    labels = tf.one_hot(labels, num_classes) if labels.shape.rank == 1 else tf.cast(labels, tf.float32)
    data = {"images": tf.cast(images, tf.float32), "labels": labels}
    for mixer in mixers:
        data = mixer(data, training=True)
    return data["images"], data["labels"]


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
    images from files are resized to the backbone's input size so they batch together.

    Split like `keras.utils.image_dataset_from_directory`: ``validation_split=0.2`` with
    ``subset="training"``, ``"validation"`` or ``"both"`` (returns ``(train, validation)``),
    seeded so the two subsets never overlap. Augmentation (Keras preprocessing layers, optional
    MixUp/CutMix) is applied to training data only. The returned datasets carry
    ``class_names`` and, for directories, ``report`` (an `ImageScanReport`).

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
        seed: Seed for the split, shuffling and augmentation.
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
    """
    sources = [directory is not None, images is not None, tfds_name is not None]
    if sum(sources) != 1:
        raise ValueError(
            "Give exactly one source: `directory`, `images` (with `labels`) or `tfds_name`. "
            f"Received: directory={directory!r}, images={'array' if images is not None else None}, "
            f"tfds_name={tfds_name!r}."
        )
    if subset not in (None, "training", "validation", "both"):
        raise ValueError(
            "`subset` must be 'training', 'validation', 'both' or None. "
            f"Received: subset={subset!r}."
        )
    if (validation_split is None) != (subset is None):
        raise ValueError(
            "`validation_split` and `subset` go together (e.g. validation_split=0.2, "
            f"subset='both'). Received: validation_split={validation_split!r}, subset={subset!r}."
        )
    if validation_split is not None and not 0 < validation_split < 1:
        raise ValueError(
            f"`validation_split` must be in (0, 1). Received: validation_split={validation_split!r}."
        )
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}.")
    spec = backbones.get_image_backbone(backbone)
    size = tuple(image_size or spec.input_size)
    report = None

    if directory is not None:
        paths, label_array, report = scan_image_directory(
            directory, class_names=class_names, max_image_pixels=max_image_pixels,
            min_image_size=min_image_size, verbose=verbose,
        )
        class_names = report.class_names
        if verbose:
            print(report)
        source = np.array(paths)
        load = lambda path, label: (_decode(path, size), label)  # noqa: E731
    elif images is not None:
        if labels is None or len(labels) != len(images):
            raise ValueError(
                "`labels` must be given with `images`, one per image. Received: "
                f"len(images)={len(images)}, len(labels)={None if labels is None else len(labels)}."
            )
        source = _to_uint8_rgb(images)
        label_array = np.asarray(labels)
        if label_array.ndim == 1 and np.issubdtype(label_array.dtype, np.integer):
            label_array = label_array.astype("int32")
            top = int(label_array.max(initial=-1))
            if label_array.size and label_array.min() < 0:
                raise ValueError(f"`labels` must be >= 0. Received: min label {label_array.min()}.")
            if class_names is not None and top >= len(class_names):
                raise ValueError(
                    f"Label {top} has no name: `class_names` has {len(class_names)} entries. "
                    f"Received: class_names={list(class_names)}."
                )
        elif np.issubdtype(label_array.dtype, np.floating) or label_array.ndim == 2:
            label_array = label_array.astype("float32")
        else:
            raise ValueError(
                "`labels` must be integer class ids, a multi-hot (N, K) array or float targets. "
                f"Received: labels.dtype={label_array.dtype}."
            )
        load = None
    else:
        source, label_array, class_names = _load_tfds(tfds_name, tfds_split, size, verbose)
        load = None

    if class_names is None and label_array.ndim == 1 and label_array.dtype == np.int32:
        class_names = [str(i) for i in range(int(label_array.max(initial=0)) + 1)]
    num_classes = len(class_names) if class_names is not None else None
    mixing = (mixup or cutmix) and augment

    order = np.arange(len(label_array))
    if validation_split is not None:
        order = np.random.default_rng(seed).permutation(len(label_array))
        cut = int(round(len(order) * (1 - validation_split)))
        if cut == 0 or cut == len(order):
            raise ValueError(
                f"validation_split={validation_split} leaves an empty subset of {len(order)} "
                "examples. Use more data or another split."
            )
        parts = {"training": order[:cut], "validation": order[cut:]}
    else:
        parts = {"all": order}

    def make(indices, training):
        dataset = tf.data.Dataset.from_tensor_slices((source[indices], label_array[indices]))
        if load is not None:
            dataset = dataset.map(load, num_parallel_calls=_AUTOTUNE)
        if cache:
            dataset = dataset.cache(cache if isinstance(cache, str) else "")
        if training and shuffle:
            dataset = dataset.shuffle(min(len(indices), 10_000), seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size)
        if training and augment:
            augmenter = make_augmenter(flip, rotation, zoom, translation, contrast, seed=seed)
            mixers = [keras.layers.MixUp(seed=seed)] if mixup else []
            mixers += [keras.layers.CutMix(seed=seed)] if cutmix else []

            def apply(batch_images, batch_labels):
                augmented = augmenter(tf.cast(batch_images, tf.float32), training=True)
                if mixing:
                    augmented, batch_labels = _mix(augmented, batch_labels, num_classes, mixers)
                return tf.cast(tf.clip_by_value(tf.round(augmented), 0, 255), tf.uint8), batch_labels

            dataset = dataset.map(apply, num_parallel_calls=_AUTOTUNE)
        elif mixing:
            dataset = dataset.map(
                lambda x, y: (x, tf.one_hot(y, num_classes)), num_parallel_calls=_AUTOTUNE
            )
        dataset = dataset.prefetch(_AUTOTUNE)
        dataset.class_names = list(class_names) if class_names is not None else None
        dataset.report = report
        dataset.num_examples = len(indices)
        # Read by `fit`'s feature cache: how many augmented views to cache, whether to reshuffle.
        dataset.shuffled = bool(training and shuffle)
        dataset.augmented = bool(training and augment)
        return dataset

    if validation_split is None:
        return make(parts["all"], training=shuffle or augment)
    train = make(parts["training"], training=True)
    validation = make(parts["validation"], training=False)
    return {"training": train, "validation": validation, "both": (train, validation)}[subset]


def _load_tfds(name, split, size, verbose):
    import tensorflow_datasets as tfds  # heavy import, only for online users

    try:
        dataset, info = tfds.load(name, split=split, as_supervised=True, with_info=True)
    except Exception as error:
        message = str(error)
        if "dataset not found" in message.lower():
            raise ValueError(f"Unknown TFDS dataset. Received: tfds_name={name!r}.") from None
        raise RuntimeError(
            f"Could not download TFDS dataset {name!r} (no internet?): {message[:300]}\n"
            "Offline alternatives: `image_dataset(directory=...)` on a folder of class folders, "
            "`image_dataset(images=..., labels=...)` on arrays, or "
            "`tl_suite.load_fashion_mnist()` (real data shipped with tl_suite)."
        ) from None
    names = info.features["label"].names
    total = info.splits[split].num_examples
    bar = progress(total, f"Reading TFDS {name}[{split}]", verbose, unit="img")
    images, labels = [], []
    for image, label in tfds.as_numpy(dataset):
        images.append(tf.image.resize(image, size, antialias=True).numpy())
        labels.append(label)
        bar.update(1)
    bar.close()
    return _to_uint8_rgb(np.stack(images)), np.array(labels, "int32"), names
