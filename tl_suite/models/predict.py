"""Predictions people can use: labels with probabilities, per-word tags, values."""

import numpy as np
import tensorflow as tf

from tl_suite.models.decoding import check_decoding, decode_tags
from tl_suite.models.task import TransferModel
from tl_suite.preprocessing.tokens import word_windows


def _check_model(model, function):
    if not isinstance(model, TransferModel):
        raise ValueError(
            f"`{function}` needs a model from a tl_suite builder (or tl_suite.load_model). "
            f"Received: model={type(model).__name__}."
        )


def _input_names(inputs):
    """A readable name per input for strings/paths (text, file path, pair), else None."""
    if isinstance(inputs, (str, bytes)) or hasattr(inputs, "__fspath__"):
        return [str(inputs)]
    if isinstance(inputs, tuple) and len(inputs) == 2 and all(isinstance(t, str) for t in inputs):
        return [inputs]
    if isinstance(inputs, (list, tuple)) and inputs and all(
            isinstance(item, (str, tuple)) or hasattr(item, "__fspath__") for item in inputs):
        return [item if isinstance(item, tuple) else str(item) for item in inputs]
    return None


def _label_rows(model, outputs, top_k, threshold):
    names = model.label_names or [str(i) for i in range(model.num_outputs)]
    rows = []
    for scores in np.asarray(outputs, dtype=float):
        if model.task == "classification":
            order = np.argsort(-scores)[:top_k]
            rows.append({"label": names[order[0]], "probability": float(scores[order[0]]),
                         "top_labels": [names[i] for i in order],
                         "top_probabilities": [float(scores[i]) for i in order]})
        elif model.task == "multi_label":
            rows.append({"labels": [n for n, s in zip(names, scores) if s >= threshold],
                         "probabilities": {n: float(s) for n, s in zip(names, scores)}})
        elif model.num_outputs == 1 and model.label_names is None:
            rows.append({"value": float(scores[0])})
        else:
            rows.append({n: float(s) for n, s in zip(names, scores)})
    return rows


def predict(model, inputs, top_k=3, threshold=0.5, batch_size=32, decoding="constrained"):
    """Predict on raw inputs and return one row (a dict) per example, ready for
    ``pandas.DataFrame(rows)``.

    Inputs: image file paths, PIL images, image arrays of any size and channel count (or a
    list of them, sizes may differ); a string, a list of strings, a pair ``("a", "b")`` or a
    list of pairs (text models); sentences as strings or word lists (token classifiers).

    Rows: classification ``{"label", "probability", "top_labels", "top_probabilities"}``
    (top ``top_k``); multi-label ``{"labels" (>= threshold), "probabilities": {name: p}}``;
    regression ``{"value"}`` (one unnamed output) or ``{output name: value}``; token
    classification ``{"words", "tags"}`` (tags decoded as ``decoding`` says, see
    `predict_tags`). Rows of string or path inputs also hold ``"input"``.

    Example:
    >>> import numpy as np, tl_suite
    >>> model = tl_suite.build_image_classifier(
    ...     "tiny_efficientnet_lite", class_names=["cat", "dog"], weights=None)
    >>> images = [np.zeros((20, 30), "uint8"), np.zeros((40, 40, 4), "uint8")]  # gray, RGBA
    >>> rows = tl_suite.predict(model, images, top_k=2)
    >>> [sorted(row["top_labels"]) for row in rows]
    [['cat', 'dog'], ['cat', 'dog']]
    """
    _check_model(model, "predict")
    if not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"`top_k` must be a positive integer. Received: top_k={top_k!r}.")
    check_decoding(decoding)
    if model.task == "token_classification":
        sentences = [inputs] if isinstance(inputs, str) else list(inputs)
        words = [s.split() if isinstance(s, str) else list(s) for s in sentences]
        return [{"words": w, "tags": t}
                for w, t in zip(words, predict_tags(model, words, batch_size=batch_size,
                                                    decoding=decoding))]
    outputs = model.predict(inputs, batch_size=batch_size, verbose=0)
    rows = _label_rows(model, outputs, top_k, threshold)
    names = _input_names(inputs)
    if names is not None and len(names) == len(rows):
        rows = [{"input": name, **row} for name, row in zip(names, rows)]
    return rows


def predict_tags(model, sentences, batch_size=32, decoding="constrained"):
    """Tag every word of ``sentences`` (strings or lists of words) with ``model``'s tags.

    Sentences longer than the model's sequence length are tagged in consecutive windows, so
    every input word gets exactly one tag; the windows' per-word probabilities are joined and
    the whole sentence decoded at once.

    Args:
        model: A model from `build_token_classifier`.
        sentences: Strings (split on whitespace) or lists of words.
        batch_size: Windows per forward pass.
        decoding: ``"constrained"`` (default): the most likely tag sequence that the tags'
            scheme allows (BIO or BIOES: no ``I-x`` after ``O``; see `decode_tags`); tags of
            no scheme (e.g. ``"PER"``, ``"LOC"``) decode by argmax. ``"argmax"``: each word's
            most likely tag on its own.

    Returns:
        One list of tag names per sentence, one tag per word.
    """
    _check_model(model, "predict_tags")
    if model.task != "token_classification":
        raise ValueError(
            "`predict_tags` needs a model from `build_token_classifier`. "
            f"Received: a {model.task} model."
        )
    check_decoding(decoding)
    words = [s.split() if isinstance(s, str) else list(s) for s in sentences]
    windows, owners = word_windows(model.preprocessor, words)
    forward = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    window_probabilities = []
    for start in range(0, len(windows), batch_size):
        window_probabilities.extend(
            _word_probabilities(model, forward, windows[start:start + batch_size]))
    per_sentence = [[] for _ in words]
    for owner, probabilities in zip(owners, window_probabilities):
        per_sentence[owner].append(probabilities)
    return [decode_tags(np.concatenate(parts), model.tag_names, decoding) for parts in per_sentence]


def _word_probabilities(model, forward, chunk):
    """Per window of words, the ``(words, tags)`` probabilities on each word's first piece."""
    x, word_ids, _ = model.preprocessor.align(tf.ragged.constant(chunk, dtype=tf.string, ragged_rank=1))
    outputs = np.asarray(forward(x))
    word_ids = np.asarray(word_ids)
    rows = []
    for row, window in enumerate(chunk):
        positions = np.flatnonzero(word_ids[row] >= 0)[:len(window)]
        rows.append(outputs[row, positions])
    return rows
