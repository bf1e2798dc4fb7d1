"""The three drawings of inspection (matplotlib, pyplot-free): a grid of images, a table of
texts, and sentences as coloured words with a note under each."""

import math
import textwrap

import numpy as np
from matplotlib.figure import Figure

WRONG, RIGHT = "#c62828", "#2e7d32"
_FONT = 10  # points; monospace characters are about 0.6 font size wide
_CHAR_INCHES = 0.6 * _FONT / 72
_LINE_INCHES = 1.45 * _FONT / 72


def image_grid(images, titles, colors=None, columns=None, title=None):
    """Images in a grid, each with a title (in ``colors``, e.g. red for wrong predictions).

    Example:
    >>> import numpy as np
    >>> figure = image_grid([np.zeros((8, 8, 3), "uint8")] * 3, ["a", "b", "c"])
    >>> len(figure.axes), figure.axes[1].get_title()
    (3, 'b')
    """
    count = len(images)
    columns = columns or min(count, max(1, math.ceil(math.sqrt(count))))
    rows = math.ceil(count / columns)
    figure = Figure(figsize=(2.3 * columns, 2.5 * rows + (0.4 if title else 0)))
    colors = colors or [None] * count
    for index, (image, caption, color) in enumerate(zip(images, titles, colors)):
        axis = figure.add_subplot(rows, columns, index + 1)
        image = np.asarray(image)
        axis.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray")
        axis.set_title(caption, fontsize=8, color=color or "black")
        axis.axis("off")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def text_table(rows, headers, colors=None, widths=None, title=None):
    """A table of texts: one line per row (long cells shortened with "..."), coloured rows.

    Example:
    >>> figure = text_table([["a good film", "pos"], ["a bad one", "neg"]], ["text", "label"])
    >>> [text.get_text() for text in figure.axes[0].texts][:3]
    ['text', 'label', 'a good film']
    """
    widths = widths or [72] + [max(len(str(h)), 12) for h in headers[1:]]
    total = sum(widths) + 2 * len(widths)
    figure = Figure(figsize=(total * _CHAR_INCHES + 0.4, (len(rows) + 2.2) * _LINE_INCHES * 1.2 + 0.3))
    axis = figure.add_axes((0.02, 0.02, 0.96, 0.96 if not title else 0.9))
    axis.set_xlim(0, total)
    axis.set_ylim(len(rows) + 1.2, 0)
    axis.axis("off")
    starts = np.concatenate([[0], np.cumsum(np.asarray(widths) + 2)[:-1]])
    for start, header in zip(starts, headers):
        axis.text(start, 0, header, fontsize=_FONT, family="monospace", weight="bold", va="top")
    axis.axhline(0.95, color="gray", linewidth=0.8)
    colors = colors or [None] * len(rows)
    for line, (row, color) in enumerate(zip(rows, colors), start=1):
        for start, width, cell in zip(starts, widths, row):
            text = " ".join(str(cell).split())
            cell = textwrap.shorten(text, width, placeholder="...") or text[:width]
            axis.text(start, line + 0.1, cell, fontsize=_FONT, family="monospace", va="top",
                      color=color or "black")
    if title:
        figure.suptitle(title)
    return figure


def _layout(words, notes, line_chars):
    """``(line, column)`` of each word, wrapping at ``line_chars`` characters."""
    places, line, column = [], 0, 0
    for word, note in zip(words, notes):
        width = max(len(word), len(note or "")) + 1
        if column and column + width > line_chars:
            line, column = line + 1, 0
        places.append((line, column))
        column += width
    return places, line + 1


def words_figure(sentences, title=None, line_chars=100):
    """Sentences as words in boxes, wrapped, each with an optional colour and a small note
    under it (a tag, an attribution); a caption above each sentence.

    Args:
        sentences: Dicts with ``"words"``, and optionally ``"notes"`` (a string per word),
            ``"colors"`` (a box colour per word, None for none), ``"text_colors"`` and
            ``"caption"``.
        title: Title of the figure.
        line_chars: Characters per line before wrapping.

    Example:
    >>> figure = words_figure([{"words": ["Paris", "is", "big"], "notes": ["B-loc", "", ""],
    ...                         "colors": ["#ffcc80", None, None], "caption": "true"}])
    >>> [text.get_text() for text in figure.axes[0].texts][:3]
    ['true', 'Paris', 'B-loc']
    """
    blocks, height = [], 0.0
    for sentence in sentences:
        notes = sentence.get("notes") or [""] * len(sentence["words"])
        places, lines = _layout(sentence["words"], notes, line_chars)
        step = 1.9 if any(notes) else 1.3
        caption = 1.2 if sentence.get("caption") else 0.0
        blocks.append((sentence, notes, places, step, height, caption))
        height += caption + lines * step + 0.6
    figure = Figure(figsize=(line_chars * _CHAR_INCHES + 0.4, max(height, 1.0) * _LINE_INCHES + 0.5))
    axis = figure.add_axes((0.01, 0.01, 0.98, 0.98 if not title else 0.98 - 0.35 / figure.get_figheight()))
    axis.set_xlim(0, line_chars)
    axis.set_ylim(max(height, 1.0), 0)
    axis.axis("off")
    for sentence, notes, places, step, top, caption in blocks:
        _draw_sentence(axis, sentence, notes, places, step, top, caption)
    if title:
        figure.suptitle(title, fontsize=_FONT + 1)
    return figure


def _draw_sentence(axis, sentence, notes, places, step, top, caption):
    if caption:
        axis.text(0, top, sentence["caption"], fontsize=_FONT, weight="bold", va="top")
    colors = sentence.get("colors") or [None] * len(places)
    text_colors = sentence.get("text_colors") or [None] * len(places)
    for word, note, (line, column), color, text_color in zip(
            sentence["words"], notes, places, colors, text_colors):
        y = top + caption + line * step
        box = dict(facecolor=color, edgecolor="none", pad=1.5) if color is not None else None
        axis.text(column, y, word, fontsize=_FONT, family="monospace", va="top", bbox=box,
                  color=text_color or "black")
        if note:
            axis.text(column, y + 0.95, note, fontsize=_FONT - 3, family="monospace", va="top",
                      color=text_color or "dimgray")


def entity_colors(tags):
    """A light colour per entity type of ``tags`` (``"B-loc"`` and ``"I-loc"`` share one);
    ``"O"`` has none.

    Example:
    >>> colors = entity_colors(["O", "B-loc", "I-loc", "B-per"])
    >>> colors["O"] is None, colors["B-loc"] == colors["I-loc"] != colors["B-per"]
    (True, True)
    """
    from matplotlib import colormaps

    palette = colormaps["Pastel1"].colors + colormaps["Pastel2"].colors
    types = sorted({tag.split("-", 1)[-1] for tag in tags if tag != "O"})
    colors = {kind: palette[index % len(palette)] for index, kind in enumerate(types)}
    return {tag: None if tag == "O" else colors[tag.split("-", 1)[-1]] for tag in tags}
