"""Figures of explanations (matplotlib, pyplot-free): a heat map over an image, words coloured
by attribution, and a tagged sentence with each entity's attributions."""

import numpy as np
from matplotlib.figure import Figure

from tl_suite.inspection.figures import words_figure
from tl_suite.inspection.show_batch import tagged_sentence


def heatmap_figure(image, heatmap, title):
    """The image, and the image under its heat map (``heatmap``: HxW in [0, 1]).

    Example:
    >>> import numpy as np
    >>> figure = heatmap_figure(np.zeros((8, 8, 3), "uint8"), np.eye(8), "cat 0.90")
    >>> [axis.get_title() for axis in figure.axes]
    ['cat 0.90', 'Grad-CAM']
    """
    figure = Figure(figsize=(6, 3.3))
    left, right = figure.subplots(1, 2)
    left.imshow(image)
    left.set_title(title, fontsize=10)
    right.imshow(image)
    right.imshow(heatmap, cmap="jet", alpha=0.45, vmin=0.0, vmax=1.0)
    right.set_title("Grad-CAM", fontsize=10)
    for axis in (left, right):
        axis.axis("off")
    figure.tight_layout()
    return figure


def attribution_colors(values):
    """A colour per value: red for evidence for the label, blue against, white for none
    (scaled by the largest magnitude)."""
    values = np.asarray(values, dtype=np.float64)
    largest = float(np.abs(values).max()) if values.size else 0.0
    scaled = values / largest if largest > 0 else values
    fade = 1.0 - 0.65 * np.abs(scaled)  # light enough to read black text on the strongest
    return [(1.0, f, f) if value >= 0 else (f, f, 1.0) for value, f in zip(scaled, fade)]


def attributions_figure(words, attributions, title, max_words=300):
    """Words coloured by attribution (the first ``max_words``).

    Example:
    >>> figure = attributions_figure(["a", "good", "film"], [0.0, 1.0, -0.2], "pos 0.9")
    >>> red, _, blue, _ = figure.axes[0].texts[1].get_bbox_patch().get_facecolor()  # "good"
    >>> red > 0.9 > 0.5 > blue
    True
    """
    shown = list(words[:max_words]) + (["..."] if len(words) > max_words else [])
    colors = attribution_colors(list(attributions[:max_words]) + ([0.0] if len(words) > max_words else []))
    return words_figure([{"words": shown, "colors": colors}], title=title)


def entities_figure(words, tags, entities, title):
    """The tagged sentence, then per entity the sentence coloured by that entity's attributions
    (``entities``: dicts with ``"type"``, ``"text"``, ``"probability"``, ``"attributions"``)."""
    sentences = [tagged_sentence(words, tags, caption="predicted tags")]
    for entity in entities:
        sentences.append({
            "words": words, "colors": attribution_colors(entity["attributions"]),
            "notes": [tag if entity["start"] <= index < entity["end"] else ""
                      for index, tag in enumerate(tags)],
            "caption": f"{entity['type']}: {entity['text']} ({entity['probability']:.2f})",
        })
    return words_figure(sentences, title=title)
