"""`explain`: which pixels or words drove a model's predictions, as arrays and figures."""

from tl_suite.explain.grad_cam import explain_images
from tl_suite.explain.scores import resolve_target
from tl_suite.explain.tagging import explain_sentences
from tl_suite.explain.text import explain_texts
from tl_suite.inspection.examples import model_kind
from tl_suite.models.decoding import check_decoding
from tl_suite.training.figures import log_figure
from tl_suite.validation import check_integer


def _check_arguments(model, kind, target, steps, decoding):
    check_integer("steps", steps, 1)
    check_decoding(decoding)
    if model.task == "regression":
        raise ValueError(
            "`explain` explains classifiers and taggers (a label and its probability). "
            f"Received: a regression model."
        )
    if kind == "tokens" and target is not None:
        raise ValueError(
            "A tagger's explanations follow each entity it predicts; `target` is for "
            f"classifiers. Pass target=None. Received: target={target!r}."
        )


def explain(model, inputs, target=None, steps=50, log_dir=None, step=0, max_words=300,
            decoding="constrained"):
    """Explain ``model``'s predictions on ``inputs``: arrays and a figure per input.

    - Image models: Grad-CAM (the class logit's gradients on the backbone's last
      convolutional feature map weigh its channels), upsampled to the image and drawn over it.
    - Text classifiers: integrated gradients of the class's log-probability over the token
      embeddings (baseline: ``[PAD]`` embeddings) and, with a TF-IDF wide branch, over the
      TF-IDF vector on the same path; pieces are summed into words and each term's share is
      given to its words, so a word's attribution counts both branches (also apart:
      ``"encoder_attributions"``, ``"tf_idf_attributions"``). They add up to the
      log-probability's change from the baseline (``"delta"`` is what is left).
    - Taggers: per predicted entity, integrated gradients of its tags' log-probabilities over
      the token embeddings, per word of the sentence.

    Args:
        model: A classifier or tagger from a tl_suite builder.
        inputs: What `tl_suite.predict` takes: image paths, PIL images or arrays; a text or
            texts; a sentence (string or word list) or sentences.
        target: The label to explain (name or index) for every input; None: each input's
            predicted label.
        steps: Points on the integrated-gradients path (text and taggers).
        log_dir: Also write each figure to TensorBoard (Images tab, tags ``explain/0``, ...).
        step: TensorBoard step of the images.
        max_words: Words drawn in a text's figure (the arrays hold them all).
        decoding: Taggers: how the explained entities are decoded (see `predict_tags`).

    Returns:
        One dict per input, with ``"figure"`` (a matplotlib `Figure`) and:
        images: ``"image"`` (uint8, the model's input size), ``"heatmap"`` (HxW in [0, 1]),
        ``"label"``, ``"probability"``, ``"predicted"``;
        texts: ``"words"`` (split on whitespace) and ``"attributions"`` (one per word),
        ``"encoder_attributions"``, ``"tf_idf_attributions"``, ``"terms"`` ([(term,
        attribution)], largest first), ``"label"``, ``"probability"``, ``"predicted"``,
        ``"truncated_words"`` (past the encoder's ``sequence_length``: TF-IDF only),
        ``"score"``, ``"baseline_score"``, ``"delta"``;
        sentences: ``"words"``, ``"tags"`` and ``"entities"`` (dicts with ``"type"``,
        ``"text"``, ``"start"``, ``"end"``, ``"probability"`` (product of its tags'),
        ``"attributions"`` (one per word), ``"delta"``).

    Example:
    >>> import numpy as np, tl_suite
    >>> from tl_suite.explain.explain import explain
    >>> model = tl_suite.build_image_classifier("tiny_efficientnet_lite", class_names=["a", "b"],
    ...                                         weights=None)
    >>> [result] = explain(model, np.zeros((20, 30, 3), "uint8"))
    >>> result["heatmap"].shape, result["label"] in ("a", "b"), type(result["figure"]).__name__
    ((32, 32), True, 'Figure')
    """
    kind = model_kind(model)
    _check_arguments(model, kind, target, steps, decoding)
    if kind == "image":
        results = explain_images(model, inputs, resolve_target(model, target))
    elif kind == "text":
        results = explain_texts(model, inputs, resolve_target(model, target), steps, max_words)
    else:
        results = explain_sentences(model, inputs, steps, decoding)
    if log_dir is not None:
        for index, result in enumerate(results):
            log_figure(log_dir, f"explain/{index}", result["figure"], step=step)
    return results
