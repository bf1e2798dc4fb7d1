"""What `fit` and `evaluate` record in a model's card (``model.card``, saved with the model).

`export` renders the card as ``MODEL_CARD.md``: the training data (sizes, what reading it
skipped, the split and seed), the held-out metrics, the calibration. Only JSON-able values.
"""

from tl_suite.data.info import dataset_info

_SHOWN_SKIPS = 20


def data_facts(dataset):
    """``{"examples", "source", "split", "skipped", "skipped_examples", "per_class"}`` of a
    tl_suite dataset (what its `DatasetInfo` and `DataReport` know; empty for other datasets).

    Example:
    >>> import numpy as np, tl_suite
    >>> train, _ = tl_suite.image_dataset(images=np.zeros((10, 8, 8), "uint8"), labels=np.arange(10) % 2,
    ...                                   validation_split=0.2, subset="both", seed=3, verbose=False)
    >>> facts = data_facts(train)
    >>> facts["examples"], facts["split"]
    (8, {'validation_split': 0.2, 'seed': 3, 'subset': 'training'})
    """
    info = dataset_info(dataset)
    if info is None:
        return {}
    facts = {"examples": info.num_examples, "kind": info.kind, "split": info.split,
             "class_names": info.class_names, "text_pairs": bool(info.text_pairs)}
    report = info.report
    if report is not None:
        facts.update(
            source=str(report.source), skipped=len(report.skipped),
            skipped_examples=[[str(where), str(why)] for where, why in report.skipped[:_SHOWN_SKIPS]],
            per_class={str(name): int(count) for name, count in (report.per_class or {}).items()},
        )
    return facts


def data_fingerprint(dataset):
    """``{"source", "split", "examples"}`` of a tl_suite dataset: what tells two of them apart
    (None for other datasets, or None given)."""
    facts = data_facts(dataset) if dataset is not None else {}
    if not facts:
        return None
    return {"source": facts.get("source"), "split": facts.get("split"),
            "examples": facts.get("examples")}


def record_training(model, train, validation, history):
    """Put what `fit` trained on into ``model.card["training"]``."""
    if not hasattr(model, "card"):
        return
    facts = data_facts(train)
    facts["validation_examples"] = (data_facts(validation).get("examples")
                                    if validation is not None else None)
    facts["validation_data"] = data_fingerprint(validation)  # `calibrate` checks against it
    facts["epochs"] = len(history.epoch) if history is not None else None
    facts["run_dir"] = getattr(history, "run_dir", None)
    choice = getattr(history, "branch_choice", None)
    if choice:
        facts["branches"] = choice["chosen"]
    model.card = {**model.card, "training": facts}


def record_evaluation(model, dataset, metrics):
    """Put `evaluate`'s metrics on ``dataset`` into ``model.card["evaluation"]``."""
    if not hasattr(model, "card"):
        return
    facts = data_facts(dataset)
    facts["metrics"] = {str(name): float(value) for name, value in metrics.items()}
    model.card = {**model.card, "evaluation": facts}
