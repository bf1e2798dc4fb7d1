"""`evaluate`'s dashboards, in the TensorBoard run ``log_dir/evaluation``.

Every tag starts with ``test/`` (Keras' own validation logs are ``epoch_*`` and
``evaluation_*_vs_iterations`` in ``run-NNN/validation``; nothing collides):

- Scalars: ``test/<metric>`` (``test/accuracy``, ``test/loss``, ``test/macro_f1``, ...),
  ``test/precision/<class>``, ``test/recall/<class>``, ``test/f1/<class>`` (per entity type for
  taggers), ``test/baseline/<metric>`` with a baseline.
- Text: ``test/report`` (the report `evaluate` prints), ``test/misclassified_texts`` (text
  models) or ``test/mistagged_sentences`` (taggers): the worst mistakes as a table.
- PR Curves: ``test/pr_curve/<class>`` (one class against the rest; each label of a
  multi-label model).
- Images: ``test/confusion_matrix`` (row-normalised fractions with the counts),
  ``test/per_label_f1``, ``test/per_type_f1`` or ``test/predicted_vs_true`` (by task),
  ``test/reliability_diagram``, ``test/misclassified`` (image models: the most confident
  mistakes with true / predicted labels and confidence).

Each value is written at `evaluate`'s ``step``.
"""

import os

import numpy as np
import tensorflow as tf

from tl_suite.training.dashboards.mistake_views import (is_image, mistagged_table, mistakes_figure,
                                                        mistakes_table)
from tl_suite.training.dashboards.writers import (summary_writer, tag_part, write_figure,
                                                  write_pr_curve, write_text)

RUN = "evaluation"
IMAGES_SHOWN = 16
_FIGURE_TAGS = {"classification": "confusion_matrix", "multi_label": "per_label_f1",
                "regression": "predicted_vs_true", "token_classification": "per_type_f1"}


def _log_metrics(result, step):
    for name, value in result["metrics"].items():
        tf.summary.scalar(f"test/{name}", value, step=step)
    for name, value in (result.get("baseline") or {}).get("metrics", {}).items():
        tf.summary.scalar(f"test/baseline/{name}", value, step=step)


def _classes(result, names):
    """The classes (labels, entity types) with a row in the report."""
    report = result.get("report_dict") or {}
    if result["task"] == "token_classification":
        return sorted(name for name in report if not name.endswith(" avg"))
    return [name for name in names if name in report]


def _log_per_class(result, names, step):
    report = result.get("report_dict") or {}
    for name in _classes(result, names):
        for key, short in (("precision", "precision"), ("recall", "recall"), ("f1-score", "f1")):
            tf.summary.scalar(f"test/{short}/{tag_part(name)}", float(report[name][key]), step=step)


def _log_pr_curves(result, names, step):
    if result["task"] not in ("classification", "multi_label"):
        return
    y_true, y_pred = np.asarray(result["y_true"]), np.asarray(result["y_pred"])
    for index, name in enumerate(names):
        labels = y_true == index if result["task"] == "classification" else y_true[:, index] > 0
        write_pr_curve(f"test/pr_curve/{tag_part(name)}", labels, y_pred[:, index], step=step)


def _log_mistakes(model, dataset, result, mistakes, step):
    """The worst mistakes with their inputs (read in a second pass when `evaluate` used
    cached features and so never saw them)."""
    if mistakes is None or not mistakes.applies:
        return
    if not mistakes.observed and not mistakes.gather(dataset, result["y_true"], result["y_pred"]):
        return
    worst, task, names = mistakes.worst(), result["task"], mistakes.names
    preprocessor = getattr(model, "preprocessor", None)
    if task == "token_classification":
        write_text("test/mistagged_sentences",
                   mistagged_table(worst) if worst else "No mis-tagged sentence.", step=step)
    elif worst and is_image(worst[0].inputs):
        write_figure("test/misclassified", mistakes_figure(worst[:IMAGES_SHOWN], names, task), step=step)
    elif not hasattr(preprocessor, "target_size"):  # text (an image model without mistakes: none)
        table = mistakes_table(worst, names, task, getattr(preprocessor, "tokenizer", None))
        write_text("test/misclassified_texts", table if worst else "No mistake.", step=step)


def log_evaluation(log_dir, model, dataset, result, names, mistakes=None, step=0):
    """Write `evaluate`'s ``result`` on ``dataset`` (label ``names``; ``mistakes``: a
    `Mistakes` that watched the evaluation, or None) into ``log_dir/evaluation``."""
    with summary_writer(os.path.join(log_dir, RUN)):
        _log_metrics(result, step)
        write_text("test/report", f"```\n{result['report']}\n```", step=step)
        _log_per_class(result, names, step)
        _log_pr_curves(result, names, step)
        write_figure(f"test/{_FIGURE_TAGS[result['task']]}", result["figure"], step=step)
        if "calibration_figure" in result:
            write_figure("test/reliability_diagram", result["calibration_figure"], step=step)
        _log_mistakes(model, dataset, result, mistakes, step)
