"""A dataset's examples as people read them, with a model's predictions: the one pass every
inspection function starts from.

`read_examples` turns batches back into what they hold (uint8 images, strings, word lists) with
their labels; `predict_examples` does the same and runs the model on each batch as it goes, so
inputs, labels and predictions stay aligned even when the dataset reshuffles. `example_rows`
scores each example (true and predicted label, probability, loss).
"""

import dataclasses
import weakref
from typing import Optional

import numpy as np
import tensorflow as tf

from tl_suite.data.info import dataset_info
from tl_suite.models.task import TransferModel
from tl_suite.preprocessing.image import ImagePreprocessor
from tl_suite.progress import progress
from tl_suite.training.feature_cache import make_forward, num_batches



@dataclasses.dataclass
class Examples:
    """Examples of a dataset, and (after `predict_examples`) a model's outputs on them.

    Attributes:
        kind: ``"image"``, ``"text"`` or ``"tokens"``.
        task: ``"classification"``, ``"multi_label"``, ``"regression"`` or
            ``"token_classification"``.
        inputs: uint8 ``(H, W, 3)`` images, strings (or ``(first, second)`` pairs) or word lists.
        labels: Per example a class id, a label row (one-hot, multi-hot, targets) or tag ids.
        label_names: Class / label / tag names, or None.
        probabilities: Per example the model's outputs (``(classes,)``, or ``(words, tags)``
            for tagged sentences); None before a model ran.
    """

    kind: str
    task: str
    inputs: list
    labels: list
    label_names: Optional[list] = None
    probabilities: Optional[list] = None


def model_kind(model):
    """``"image"``, ``"text"`` or ``"tokens"``: what a tl_suite model reads."""
    if not isinstance(model, TransferModel):
        raise ValueError(
            "Inspection needs a model from a tl_suite builder (or tl_suite.load_model): it reads "
            f"the model's task, labels and preprocessor. Received: model={type(model).__name__}."
        )
    if model.task == "token_classification":
        return "tokens"
    return "image" if isinstance(model.preprocessor, ImagePreprocessor) else "text"


def _batch_kind(x):
    if isinstance(x, dict):
        raise ValueError(
            "This dataset holds token ids (made with tokenize=True), which cannot be shown as "
            "text. Make the dataset without tokenize=True to inspect it. Received: a batch with "
            f"keys {sorted(x)}."
        )
    if isinstance(x, tuple) or x.dtype == tf.string:
        return "tokens" if isinstance(x, tf.RaggedTensor) or x.shape.rank == 2 else "text"
    return "image"


def _task_of(info, labels):
    mode = info.label_mode if info is not None else None
    if mode == "tags" or isinstance(labels, tf.RaggedTensor):
        return "token_classification"
    if mode in ("multi_hot", "float"):
        return "multi_label" if mode == "multi_hot" else "regression"
    return "regression" if labels.dtype.is_floating and labels.shape.rank == 1 else "classification"


def _strings(tensor):
    return [item.decode("utf-8", "replace") for item in np.asarray(tensor).ravel().tolist()]


def _unbatch(kind, x, y):
    """One batch -> ``(inputs, labels)`` lists of what it holds."""
    if kind == "image":
        return list(np.clip(np.round(np.asarray(x)), 0, 255).astype(np.uint8)), list(np.asarray(y))
    if kind == "text":
        inputs = list(zip(_strings(x[0]), _strings(x[1]))) if isinstance(x, tuple) else _strings(x)
        return inputs, list(np.asarray(y))
    rows = x.to_list() if isinstance(x, tf.RaggedTensor) else np.asarray(x).tolist()
    tag_rows = y.to_list() if isinstance(y, tf.RaggedTensor) else np.asarray(y).tolist()
    words = [[w.decode("utf-8", "replace") for w in row if w] for row in rows]
    return words, [[int(t) for t in tags[:len(row)]] for tags, row in zip(tag_rows, words)]


def _labels_count(labels):
    return int(labels.nrows()) if isinstance(labels, tf.RaggedTensor) else int(tf.shape(labels)[0])


def _batches(dataset, max_examples, description, verbose):
    """``(x, y)`` batches of ``dataset`` until ``max_examples`` examples were seen."""
    seen = 0
    bar = progress(num_batches(dataset), description, verbose, unit="batch")
    try:
        for element in dataset:
            if not isinstance(element, tuple) or len(element) < 2:
                raise ValueError(
                    "Inspection needs a dataset of (inputs, labels) batches, as image_dataset, "
                    "text_dataset and token_dataset make. Received: a dataset of inputs alone."
                )
            yield element[0], element[1]
            bar.update(1)
            seen += _labels_count(element[1])
            if max_examples is not None and seen >= max_examples:
                break
    finally:
        bar.close()


def read_examples(dataset, max_examples=None, verbose=False):
    """The first ``max_examples`` examples of ``dataset`` (all for None), without a model.

    Example:
    >>> import numpy as np, tl_suite
    >>> data = tl_suite.text_dataset(texts=["a b", "c", "d e f"], labels=["x", "y", "x"],
    ...                              shuffle=False, verbose=False)
    >>> examples = read_examples(data, max_examples=2)
    >>> examples.kind, examples.inputs[:2], examples.label_names
    ('text', ['a b', 'c'], ['x', 'y'])
    """
    info, kind, task = dataset_info(dataset), None, None
    inputs, labels = [], []
    for x, y in _batches(dataset, max_examples, "Reading", verbose):
        kind = kind or _batch_kind(x)
        task = task or _task_of(info, y)
        batch_inputs, batch_labels = _unbatch(kind, x, y)
        inputs += batch_inputs
        labels += batch_labels
    _check_not_empty(inputs)
    stop = max_examples if max_examples is not None else len(inputs)
    names = info.class_names if info is not None else None
    return Examples(kind, task, inputs[:stop], labels[:stop], names)


def _check_not_empty(inputs):
    if not inputs:
        raise ValueError("`dataset` is empty: there is nothing to inspect. Pass a dataset with at "
                         "least one batch. Received: an empty dataset.")


_TAGGER_FORWARDS = weakref.WeakKeyDictionary()


def _tag_forward(model):
    """Per sentence of a batch of word lists, the ``(words, tags)`` probabilities on each word's
    first piece. Made once per tagger (a new `tf.function` per call would retrace every time,
    and TensorFlow warns after five); it holds the model weakly, so the model can be freed."""
    if model in _TAGGER_FORWARDS:
        return _TAGGER_FORWARDS[model]
    reference = weakref.ref(model)
    forward = tf.function(lambda x: reference()(x, training=False), reduce_retracing=True)

    def word_probabilities(words):
        x, word_ids, _ = reference().preprocessor.align(
            tf.ragged.constant(words, dtype=tf.string, ragged_rank=1))
        outputs, word_ids = np.asarray(forward(x)), np.asarray(word_ids)
        return [outputs[row, np.flatnonzero(word_ids[row] >= 0)[:len(sentence)]]
                for row, sentence in enumerate(words)]

    _TAGGER_FORWARDS[model] = word_probabilities
    return word_probabilities


def model_forward(model):
    """``model``'s forward pass on raw batches: ``forward(words)`` for taggers (see
    `_tag_forward`), else ``forward(x, y) -> (outputs, y)`` with the model's preprocessing."""
    return _tag_forward(model) if model_kind(model) == "tokens" else make_forward(model, model.prepare)


def predict_examples(model, dataset, max_examples=None, verbose=False):
    """One pass over ``dataset``: its examples, their labels and ``model``'s outputs.

    Example:
    >>> import numpy as np, tl_suite
    >>> data = tl_suite.image_dataset(images=np.zeros((5, 8, 8), "uint8"), labels=[0, 1, 0, 1, 0],
    ...                               class_names=["a", "b"], shuffle=False, verbose=False)
    >>> model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=2, weights=None)
    >>> examples = predict_examples(model, data, max_examples=3)
    >>> len(examples.inputs), examples.inputs[0].shape, examples.probabilities[0].shape
    (3, (8, 8, 3), (2,))
    """
    kind, forward = model_kind(model), model_forward(model)
    inputs, labels, probabilities = [], [], []
    for x, y in _batches(dataset, max_examples, "Predicting", verbose):
        if _batch_kind(x) != kind:
            raise ValueError(
                f"The model reads {kind} but `dataset` holds {_batch_kind(x)}. Pass a dataset made "
                f"for this model. Received: a {_batch_kind(x)} dataset."
            )
        batch_inputs, batch_labels = _unbatch(kind, x, y)
        outputs = forward(batch_inputs) if kind == "tokens" else np.asarray(forward(x, y)[0])
        inputs, labels = inputs + batch_inputs, labels + batch_labels
        probabilities += [np.asarray(row, dtype=np.float64) for row in outputs]
    _check_not_empty(inputs)
    stop = max_examples if max_examples is not None else len(inputs)
    names = model.label_names or _dataset_names(dataset) or [str(i) for i in range(model.num_outputs)]
    return Examples(kind, model.task, inputs[:stop], labels[:stop], names, probabilities[:stop])


def _dataset_names(dataset):
    info = dataset_info(dataset)
    return info.class_names if info is not None else None
