"""Reading a TensorFlow Datasets (TFDS) split into memory, for images and texts alike.

TFDS downloads a dataset the first time it is used, so this needs internet; offline it fails
fast with a `RuntimeError` that names the offline alternatives.
"""

import numpy as np

from tl_suite.progress import progress

OFFLINE_ALTERNATIVES = {
    "image": (
        "`image_dataset(directory=...)` on a folder of class folders, "
        "`image_dataset(images=..., labels=...)` on arrays, or `tl_suite.load_fashion_mnist()` "
        "(real data shipped with tl_suite)"
    ),
    "text": (
        "`text_dataset(texts=..., labels=...)`, `text_dataset(path='data.csv')` or "
        "`text_dataset(directory=...)` on local files"
    ),
}


def _is_not_found(tfds, error):
    not_found = getattr(tfds.core, "DatasetNotFoundError", ())
    return isinstance(error, not_found) or "dataset not found" in str(error).lower()


def _open(tfds, name, split, kind):
    try:
        return tfds.load(name, split=split, as_supervised=True, with_info=True)
    except Exception as error:  # TFDS raises many kinds of errors when it cannot download
        if _is_not_found(tfds, error):
            raise ValueError(
                f"Unknown TFDS dataset {name!r}; see https://www.tensorflow.org/datasets/catalog "
                f"for the names. Received: tfds_name={name!r}."
            ) from None
        raise RuntimeError(
            f"Could not download TFDS dataset {name!r} (no internet?): {str(error)[:300]}\n"
            f"Offline alternatives: {OFFLINE_ALTERNATIVES[kind]}."
        ) from None


def _split_size(info, split):
    try:
        return int(info.splits[split].num_examples)
    except (KeyError, TypeError, AttributeError, ValueError):
        return None  # a split expression such as "train[:10%]": the bar counts without a total


def load_tfds(name, split="train", kind="image", convert=None, verbose=True):
    """Read TFDS ``name[split]`` (supervised: ``(example, label)``) into memory.

    Args:
        name: TFDS dataset name, e.g. ``"tf_flowers"`` or ``"imdb_reviews"``.
        split: TFDS split (or split expression).
        kind: ``"image"`` or ``"text"`` (for the offline error message and the progress bar).
        convert: ``convert(example)`` applied to each NumPy example (e.g. resize an image,
            decode a text); None keeps it as it is.
        verbose: Show a progress bar.

    Returns:
        ``(examples, labels, class_names)``: a list of converted examples, int32 labels and
        the label names TFDS declares (None if it declares none).
    """
    if kind not in OFFLINE_ALTERNATIVES:
        raise ValueError(f"`kind` must be 'image' or 'text'. Received: kind={kind!r}.")
    import tensorflow_datasets as tfds  # heavy import, only for online users

    dataset, info = _open(tfds, name, split, kind)
    unit = "img" if kind == "image" else "text"
    bar = progress(_split_size(info, split), f"Reading TFDS {name}[{split}]", verbose, unit=unit)
    examples, labels = [], []
    for example, label in tfds.as_numpy(dataset):
        examples.append(convert(example) if convert is not None else example)
        labels.append(int(label))
        bar.update(1)
    bar.close()
    names = getattr(info.features["label"], "names", None)
    return examples, np.asarray(labels, dtype="int32"), (list(names) if names else None)
