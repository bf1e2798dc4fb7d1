"""Image files: find them in class folders, check each one fully, convert the unusual ones.

Every file is fully decoded once while scanning, so a corrupt file never reaches tf.data (where
it would crash mid-epoch). Files TensorFlow decodes natively (8-bit gray/RGB JPEG and PNG) are
read as they are; others (CMYK, 16-bit, palette, alpha, animated) are converted once to an RGB
PNG in tl_suite's cache and counted in the report.
"""

import hashlib
import os
import warnings

import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from tl_suite.packages import cache_dir
from tl_suite.data.report import DataReport
from tl_suite.preprocessing.image import pil_to_rgb
from tl_suite.progress import progress

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
# PIL's own decompression-bomb warning threshold (about 89 megapixels).
DEFAULT_MAX_IMAGE_PIXELS = 89_478_485


def _conversion_path(path, cache_root):
    stat = os.stat(path)
    key = hashlib.sha1(f"{os.path.abspath(path)}:{stat.st_mtime_ns}:{stat.st_size}".encode())
    return os.path.join(cache_root, key.hexdigest() + ".png")


def _bomb_message(size, max_pixels):
    return (
        f"{size} exceeds max_image_pixels={max_pixels} (decompression-bomb guard); "
        "downscale the file or raise `max_image_pixels`"
    )


def _conversion_reason(image_format, mode, frames, info):
    if frames > 1:
        return f"animated {image_format}: first frame used"
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in info):
        return "alpha channel composited on white"
    if mode == "CMYK":
        return "CMYK converted to RGB"
    if mode.startswith("I") or mode == "F":
        return "16-bit or float image scaled to 8-bit RGB"
    return f"{image_format} {mode} converted to RGB"


def _check_opened(image, path, max_pixels, min_size, cache_root):
    width, height = image.size
    if width * height > max_pixels:
        return None, None, _bomb_message(f"{width}x{height} pixels", max_pixels)
    if min(width, height) < min_size:
        return None, None, (
            f"{width}x{height} is smaller than min_image_size={min_size}; remove it or "
            "lower `min_image_size`"
        )
    image_format, mode, frames = image.format, image.mode, getattr(image, "n_frames", 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image.load()  # full decode: catches truncated and corrupt data
    if image_format in ("JPEG", "PNG") and mode in ("L", "RGB") and frames == 1:
        return path, None, None
    target = _conversion_path(path, cache_root)
    if not os.path.exists(target):
        pil_to_rgb(image).save(target + ".tmp.png")
        os.replace(target + ".tmp.png", target)
    return target, _conversion_reason(image_format, mode, frames, image.info), None


def inspect_image(path, max_pixels=DEFAULT_MAX_IMAGE_PIXELS, min_size=8, cache_root=None):
    """Check one image file.

    Returns:
        ``(path_to_read, conversion_reason, skip_reason)``: the file itself or its converted
        RGB copy (None when skipped), why it was converted (or None), why it is skipped (or
        None).
    """
    cache_root = cache_root or conversion_folder()
    try:
        with Image.open(path) as image:
            return _check_opened(image, path, max_pixels, min_size, cache_root)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        # PIL refuses very large images while reading the header, before our own check.
        return None, None, _bomb_message(str(error).split(" exceeds")[0], max_pixels)
    except UnidentifiedImageError:
        return None, None, "not a readable image (wrong extension or corrupt header)"
    except (OSError, SyntaxError, ValueError) as error:
        return None, None, f"corrupt or truncated image data ({error})"


def conversion_folder():
    """Folder of the RGB copies of unusual image files (created if needed)."""
    folder = os.path.join(cache_dir(), "converted_images")
    os.makedirs(folder, exist_ok=True)
    return folder


def find_class_folders(directory, class_names=None):
    """Class names of ``directory/<class_name>/`` (sorted folder names by default)."""
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            "`directory` must be a folder with one sub-folder per class. "
            f"Received: directory={directory!r}."
        )
    found = sorted(
        entry for entry in os.listdir(directory)
        if os.path.isdir(os.path.join(directory, entry)) and not entry.startswith(".")
    )
    if class_names is not None:
        missing = [name for name in class_names if name not in found]
        if missing:
            raise ValueError(
                f"No folder for classes {missing} in {directory}. Folders found: {found}. "
                f"Received: class_names={list(class_names)}."
            )
    class_names = list(class_names) if class_names is not None else found
    if not class_names:
        raise ValueError(
            f"{directory} has no class sub-folders. Put images in "
            f"{directory}/<class_name>/*.jpg. Received: directory={directory!r}."
        )
    return class_names


def list_image_files(directory, class_names, report):
    """``[(path, label)]`` of the files with an image extension under each class folder
    (others go to ``report.ignored_files``)."""
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
    return candidates


def _check_files(candidates, report, max_image_pixels, min_image_size, verbose):
    cache_root = conversion_folder()
    paths, labels = [], []
    bar = progress(len(candidates), f"Checking images in {report.source}", verbose, unit="img")
    for path, label in candidates:
        readable, conversion, skip = inspect_image(path, max_image_pixels, min_image_size, cache_root)
        bar.update(1)
        if skip:
            report.skip(path, skip)
            continue
        if conversion:
            report.note(f"converted: {conversion}")
        paths.append(readable)
        labels.append(label)
        report.per_class[report.class_names[label]] += 1
    bar.close()
    return paths, labels


def scan_image_directory(directory, class_names=None, max_image_pixels=DEFAULT_MAX_IMAGE_PIXELS,
                         min_image_size=8, verbose=True):
    """Find, check and label every image under ``directory/<class_name>/``.

    Returns:
        ``(paths, labels, report)``: readable file paths (converted copies where needed), their
        integer labels in the order of ``class_names``, and a `DataReport` (conversions are
        its notes, starting with ``"converted: "``).
    """
    class_names = find_class_folders(directory, class_names)
    report = DataReport(source=directory, unit="images", class_names=class_names,
                        per_class=dict.fromkeys(class_names, 0))
    candidates = list_image_files(directory, class_names, report)
    paths, labels = _check_files(candidates, report, max_image_pixels, min_image_size, verbose)
    report.used = len(paths)
    empty = [name for name in class_names if not report.per_class[name]]
    if empty:
        raise ValueError(
            f"Class folders with no usable image: {[os.path.join(directory, n) for n in empty]}. "
            "Add images to them, remove the folders, or pass `class_names` without them.\n"
            + str(report)
        )
    return paths, np.asarray(labels, dtype="int32"), report


def decode_image_file(path, size):
    """Read one checked file inside tf.data: uint8 RGB resized to ``size`` (antialiased)."""
    data = tf.io.read_file(path)
    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    image = tf.image.resize(image, size, method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
