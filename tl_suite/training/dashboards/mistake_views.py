"""Mistakes (`mistakes.Mistake`) as people read them: a grid of images with the true and
predicted labels and the confidence, or a markdown table of texts or tagged sentences."""

import math

import numpy as np
from matplotlib.figure import Figure

from tl_suite.training.dashboards.writers import markdown_table


def _decoded(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def is_image(inputs):
    """Whether raw ``inputs`` of one example are an image (``(H, W)`` or ``(H, W, C)`` numbers)."""
    return (isinstance(inputs, np.ndarray) and inputs.ndim in (2, 3)
            and np.issubdtype(inputs.dtype, np.number))


def text_of(inputs, tokenizer=None):
    """The text of one example's raw ``inputs``: a string, a pair of strings (joined by
    ``" ‖ "``), a list of words, or token ids (detokenized when ``tokenizer`` is given).

    Example:
    >>> import numpy as np
    >>> text_of(np.array(b"good film")), text_of((np.array(b"a"), np.array(b"b")))
    ('good film', 'a ‖ b')
    """
    if isinstance(inputs, dict):
        ids = np.asarray(inputs.get("token_ids", []))
        mask = np.asarray(inputs.get("padding_mask", np.ones_like(ids))).astype(bool)
        if tokenizer is None:
            return " ".join(str(i) for i in ids[mask])
        return _decoded(np.asarray(tokenizer.detokenize(ids[mask])).item())
    if isinstance(inputs, (tuple, list)):
        return " ‖ ".join(text_of(part, tokenizer) for part in inputs)
    array = np.asarray(inputs)
    if array.ndim == 0:
        return _decoded(array.item())
    return " ".join(_decoded(word) for word in array.ravel() if _decoded(word))


def words_of(inputs):
    """One sentence's words from its raw ``inputs`` (a word list or a string); None for
    token ids."""
    if isinstance(inputs, dict):
        return None
    array = np.asarray(inputs)
    if array.ndim == 0:
        return _decoded(array.item()).split()
    return [_decoded(word) for word in array.ravel() if _decoded(word)]


def labels_of(mistake, names, task):
    """``(true, predicted)`` as text: class names, with the predicted probabilities."""
    probabilities = mistake.probabilities
    if task == "classification":
        return (names[mistake.true],
                f"{names[mistake.predicted]} ({probabilities[mistake.predicted]:.2f})")
    true = ", ".join(names[i] for i in mistake.true) or "(none)"
    predicted = ", ".join(f"{names[i]} ({probabilities[i]:.2f})" for i in mistake.predicted)
    return true, predicted or "(none)"


def _show(axis, image):
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if not np.issubdtype(image.dtype, np.integer):
        image = np.clip(image / 255.0 if image.max() > 1.0 else image, 0.0, 1.0)
    axis.imshow(image, cmap="gray" if image.ndim == 2 else None)
    axis.set_xticks([])
    axis.set_yticks([])


def mistakes_figure(mistakes, names, task, columns=4, title="Most confident mistakes"):
    """A grid of mistaken images, each titled with its true and predicted labels.

    Example:
    >>> import numpy as np
    >>> from tl_suite.training.dashboards.mistakes import Mistake
    >>> wrong = Mistake(3, np.zeros((8, 8, 3), "uint8"), 0.9, 0, 1, np.array([0.1, 0.9]))
    >>> mistakes_figure([wrong], ["cat", "dog"], "classification").axes[0].get_title()
    'true: cat\\npredicted: dog (0.90)'
    """
    rows = max(1, math.ceil(len(mistakes) / columns))
    figure = Figure(figsize=(2.4 * columns, 2.6 * rows + 0.4))
    for position, mistake in enumerate(mistakes):
        axis = figure.add_subplot(rows, columns, position + 1)
        _show(axis, mistake.inputs)
        true, predicted = labels_of(mistake, names, task)
        axis.set_title(f"true: {true}\npredicted: {predicted}", fontsize=8, color="firebrick")
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def mistakes_table(mistakes, names, task, tokenizer=None):
    """A markdown table of mistaken texts: example index, text, true and predicted labels.

    Example:
    >>> import numpy as np
    >>> from tl_suite.training.dashboards.mistakes import Mistake
    >>> wrong = Mistake(3, np.array(b"bad film"), 0.8, 1, 0, np.array([0.8, 0.2]))
    >>> print(mistakes_table([wrong], ["neg", "pos"], "classification"))
    | example | text | true | predicted |
    | --- | --- | --- | --- |
    | 3 | bad film | pos | neg (0.80) |
    """
    rows = [[mistake.index, text_of(mistake.inputs, tokenizer), *labels_of(mistake, names, task)]
            for mistake in mistakes]
    return markdown_table(["example", "text", "true", "predicted"], rows)


def _tagged(words, true, predicted):
    """A sentence with each word's tag: a mistake in bold as ``true→predicted``."""
    words = words if words is not None and len(words) >= len(true) else [f"w{i}" for i in range(len(true))]
    parts = []
    for word, t, p in zip(words, true, predicted):
        if t != p:
            parts.append(f"**{word}** ({t}→{p})")
        else:
            parts.append(word if t == "O" else f"{word} [{t}]")
    return " ".join(parts)


def mistagged_table(mistakes):
    """A markdown table of mis-tagged sentences: each word with its tag, mistakes in bold.

    Example:
    >>> import numpy as np
    >>> from tl_suite.training.dashboards.mistakes import Mistake
    >>> wrong = Mistake(0, np.array([b"paris", b"is", b"big"]), 1.0,
    ...                 ["B-loc", "O", "O"], ["O", "O", "O"])
    >>> print(mistagged_table([wrong]).splitlines()[-1])
    | 0 | **paris** (B-loc→O) is big | 1 |
    """
    rows = [[mistake.index, _tagged(words_of(mistake.inputs), mistake.true, mistake.predicted),
             int(mistake.score)] for mistake in mistakes]
    return markdown_table(["example", "sentence (mistakes in bold: true→predicted)", "wrong words"], rows)
