"""`show_batch`: the first examples of a dataset as a figure, as the model will see them."""

from tl_suite.inspection.examples import read_examples
from tl_suite.inspection.figures import entity_colors, image_grid, text_table, words_figure
from tl_suite.inspection.rows import label_text
from tl_suite.training.figures import log_figure
from tl_suite.validation import check_integer


def _input_text(item):
    return f"{item[0]} [SEP] {item[1]}" if isinstance(item, tuple) else item


def tagged_sentence(words, tags, caption=None, wrong=None):
    """One sentence for `words_figure`: entity words in their type's colour, the tag under
    each word (red where ``wrong``)."""
    colors = entity_colors(sorted(set(tags)))
    text_colors = ["#c62828" if bad else None for bad in wrong] if wrong else None
    return {"words": words, "notes": [tag if tag != "O" else "" for tag in tags],
            "colors": [colors[tag] for tag in tags], "text_colors": text_colors, "caption": caption}


def show_batch(dataset, max_examples=9, log_dir=None, step=0, columns=None):
    """Draw the first ``max_examples`` examples of ``dataset`` with their labels.

    Images come as a grid titled with their labels, texts as a table of text and label, and
    tagged sentences (``token_dataset``) as words with their tags (entities coloured by type).
    Training datasets show their augmented images, as `fit` sees them.

    Args:
        dataset: A `tf.data.Dataset` of ``(inputs, labels)`` batches from `image_dataset`,
            `text_dataset` or `token_dataset` (label names are read from its `DatasetInfo`).
        max_examples: How many examples to draw.
        log_dir: Also write the figure to TensorBoard there (Images tab, tag ``show_batch``).
        step: TensorBoard step of the image.
        columns: Images per row of the grid (default: about a square).

    Returns:
        A matplotlib `Figure` (shown by notebooks as it is).

    Example:
    >>> import numpy as np, tl_suite
    >>> data = tl_suite.image_dataset(images=np.zeros((6, 16, 16), "uint8"), labels=np.arange(6) % 2,
    ...                               class_names=["cat", "dog"], shuffle=False, verbose=False)
    >>> from tl_suite.inspection.show_batch import show_batch
    >>> figure = show_batch(data, max_examples=4)
    >>> [axis.get_title() for axis in figure.axes]
    ['cat', 'dog', 'cat', 'dog']
    """
    check_integer("max_examples", max_examples, 1)
    examples = read_examples(dataset, max_examples)
    labels = [label_text(label, examples.label_names, examples.task) for label in examples.labels]
    if examples.kind == "image":
        figure = image_grid(examples.inputs, [str(label) for label in labels], columns=columns)
    elif examples.kind == "text":
        figure = text_table([[_input_text(item), label] for item, label in zip(examples.inputs, labels)],
                            ["text", "label"])
    else:
        figure = words_figure([tagged_sentence(words, tags)
                               for words, tags in zip(examples.inputs, labels)])
    if log_dir is not None:
        log_figure(log_dir, "show_batch", figure, step=step)
    return figure
