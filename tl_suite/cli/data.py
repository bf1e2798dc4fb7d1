"""What a data path holds, and the tl_suite dataset read from it (`train` and `evaluate`).

A folder of class folders holds images or .txt files (whichever it has more of); a .csv /
.jsonl file is a text table; a .conll / .txt (or .tsv, .iob, .bio) file is CoNLL (one word and
its tag per line, a blank line between sentences).
"""

import os

import tl_suite
from tl_suite.data.image_files import IMAGE_EXTENSIONS
from tl_suite.preprocessing.image import ImagePreprocessor

TABLE_EXTENSIONS = (".csv", ".jsonl", ".json")
CONLL_EXTENSIONS = (".conll", ".txt", ".tsv", ".iob", ".bio")
LABEL_MODES = {None: "auto", "classification": "int", "multi_label": "multi_hot",
               "regression": "float"}


def data_kind(path, argument="data"):
    """``"image"``, ``"text"`` or ``"tokens"``: what ``path`` holds.

    Example:
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> os.makedirs(os.path.join(folder, "cat"))
    >>> open(os.path.join(folder, "cat", "a.png"), "wb").close()
    >>> data_kind(folder), data_kind("reviews.csv"), data_kind("ner.conll")
    ('image', 'text', 'tokens')
    """
    extension = os.path.splitext(str(path))[1].lower()
    if os.path.isdir(path):
        return _folder_kind(path, argument)
    if extension in TABLE_EXTENSIONS:
        return "text"
    if extension in CONLL_EXTENSIONS:
        return "tokens"
    raise ValueError(
        f"Cannot tell what {path} holds. Give a folder of class folders (images or .txt files), "
        f"a CSV/JSONL file ({', '.join(TABLE_EXTENSIONS)}) or a CoNLL file "
        f"({', '.join(CONLL_EXTENSIONS)}). Received: {argument}={path!r}."
    )


def _folder_kind(path, argument):
    images = texts = 0
    for entry in sorted(os.scandir(path), key=lambda entry: entry.name):
        if entry.is_dir():
            names = [name.lower() for name in os.listdir(entry.path)]
            images += sum(name.endswith(IMAGE_EXTENSIONS) for name in names)
            texts += sum(name.endswith(".txt") for name in names)
    if not images and not texts:
        raise ValueError(
            f"{path} has no class folders of images or .txt files. Put each class in its own "
            f"folder ({path}/<class_name>/*.jpg or *.txt). Received: {argument}={path!r}."
        )
    return "image" if images >= texts else "text"


def check_path(path, argument):
    """``path`` must exist (a clear `FileNotFoundError` naming the argument otherwise)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file or folder. Received: {argument}={path!r}.")
    return path


def resolve_task(kind, task):
    """The task for data of ``kind``: ``task`` if the data can give it, else an error.
    ``None`` (infer) for text tables, whose labels say it."""
    wanted = {"image": ("classification",), "tokens": ("token_classification",),
              "text": ("classification", "multi_label", "regression")}[kind]
    if task is not None and task not in wanted:
        what = {"image": "a folder of class folders of images", "text": "text data",
                "tokens": "a CoNLL file"}[kind]
        raise ValueError(
            f"{what.capitalize()} trains {' or '.join(wanted)} models. Give a CSV/JSONL file for "
            f"multi-label or regression text models, a CoNLL file for token classification. "
            f"Received: --task={task}."
        )
    return wanted[0] if len(wanted) == 1 else task


def read_dataset(kind, path, split, **options):
    """The tl_suite dataset of ``kind`` at ``path`` (``split``: ``validation_split``,
    ``subset``, ``seed``, ``batch_size``...; ``options``: that reader's other arguments)."""
    if kind == "image":
        return tl_suite.image_dataset(directory=path, **split, **options)
    if kind == "text":
        source = {"directory": path} if os.path.isdir(path) else {"path": path}
        return tl_suite.text_dataset(**source, **split, **options)
    return tl_suite.token_dataset(path=path, **split, **options)


def load_model(path):
    """A saved tl_suite model (``.keras``), or a clear error."""
    check_path(path, "model")
    if not str(path).endswith(".keras"):
        raise ValueError(
            f"The model must be a `.keras` file saved by `tl-suite train` or model.save(). "
            f"Received: model={path!r}.")
    return tl_suite.load_model(path)


def model_kind(model):
    """``"image"``, ``"text"`` or ``"tokens"``: the data a tl_suite model reads."""
    if model.task == "token_classification":
        return "tokens"
    return "image" if isinstance(model.preprocessor, ImagePreprocessor) else "text"


def check_kind(model, kind, path, argument="data"):
    """The data at ``path`` must be what ``model`` reads."""
    expected = model_kind(model)
    if kind != expected:
        names = {"image": "a folder of class folders of images", "text": "text (a CSV/JSONL "
                 "file or a folder of .txt class folders)", "tokens": "a CoNLL file"}
        raise ValueError(
            f"This is {'an' if expected == 'image' else 'a'} {expected} model ({model.task}); "
            f"it needs {names[expected]}, but {path} holds {kind} data. "
            f"Received: {argument}={path!r}."
        )


def model_reader_options(model, kind, text_column="text", label_column="label"):
    """The reader's arguments that make data of ``kind`` match ``model``: its label names,
    image size, task, and backbone (to count truncated texts and split long sentences as it
    reads them)."""
    if kind == "image":
        return dict(class_names=model.class_names, image_size=model.preprocessor.target_size)
    backbone = _known_backbone(model.backbone_name)
    if kind == "tokens":
        return dict(tag_names=model.tag_names, backbone=backbone,
                    sequence_length=model.preprocessor.sequence_length)
    regression = model.task == "regression"
    return dict(class_names=None if regression else model.class_names, backbone=backbone,
                sequence_length=model.preprocessor.sequence_length,
                label_mode=LABEL_MODES[model.task], text_column=text_column,
                label_column=label_column)


def _known_backbone(name):
    """``name`` if it still resolves (a local folder may have moved), else None."""
    try:
        tl_suite.get_backbone(name)
    except (ValueError, FileNotFoundError, TypeError):
        return None
    return name
