"""The new head of every tl_suite model, and each task's compile defaults."""

import keras

from tl_suite.models.layers import BranchGate, TemperatureScaling
from tl_suite.models.metrics import MaskedAccuracy
from tl_suite.models.naive_bayes import NaiveBayesDense

TASKS = ("classification", "multi_label", "regression", "token_classification")
_ACTIVATION = {"classification": "softmax", "multi_label": "sigmoid", "regression": None,
               "token_classification": "softmax"}


def build_head(input_shape, num_outputs, task="classification", dropout=0.2, hidden_units=(),
               hidden_activation="relu", gated_columns=None, name="head"):
    """The head: dropout, optional hidden dense layers, output dense (float32 outputs).

    It is its own `keras.Model` (layer ``"head"`` of the full model) and takes the pooled
    features, so `fit` can train it alone on features the frozen base computed once. With
    ``gated_columns`` (a text model's wide branch) a `BranchGate` named ``"branch_gate"`` first
    scales that many leading features (the encoder's) by a non-trainable 1 or 0, with the
    first dropout on those columns only (not on the sparse TF-IDF ones), and — for class and
    label outputs without hidden layers — the output layer is a `NaiveBayesDense` whose
    TF-IDF weights `fit` scales by naive-Bayes ratios. Probability outputs end in a
    `TemperatureScaling` layer named ``"temperature"`` (1 until `calibrate`).
    """
    features = keras.Input(shape=input_shape, name="features")
    x = features
    if gated_columns:  # its dropout (encoder columns only) stands for the first dropout layer
        x = BranchGate(gated_columns, dropout=dropout, name="branch_gate")(x)
    for index, units in enumerate(hidden_units):
        if dropout and (index or not gated_columns):
            x = keras.layers.Dropout(dropout, name=f"hidden{index}_dropout")(x)
        x = keras.layers.Dense(units, activation=hidden_activation, name=f"hidden{index}")(x)
    if dropout and (hidden_units or not gated_columns):
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    if gated_columns and not hidden_units and task in ("classification", "multi_label"):
        outputs = NaiveBayesDense(num_outputs, gated_columns, activation=_ACTIVATION[task],
                                  dtype="float32", name="predictions")(x)
    else:
        outputs = keras.layers.Dense(
            num_outputs, activation=_ACTIVATION[task], dtype="float32", name="predictions"
        )(x)
    if _ACTIVATION[task]:  # probabilities: a temperature `calibrate` can set (1 until then)
        outputs = TemperatureScaling(_ACTIVATION[task], name="temperature")(outputs)
    return keras.Model(features, outputs, name=name)


def default_loss(task):
    """The loss a ``task`` model compiles with by default."""
    if task == "token_classification":
        return keras.losses.SparseCategoricalCrossentropy(ignore_class=-1)
    return {"classification": "sparse_categorical_crossentropy",
            "multi_label": "binary_crossentropy", "regression": "mean_squared_error"}[task]


def default_metrics(task, num_outputs):
    """Fresh metric objects a ``task`` model compiles with by default."""
    if task == "classification":
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    if task == "multi_label":
        return [keras.metrics.BinaryAccuracy(name="binary_accuracy"),
                keras.metrics.AUC(multi_label=True, num_labels=num_outputs, name="auc")]
    if task == "token_classification":
        return [MaskedAccuracy(name="accuracy")]
    return [keras.metrics.MeanAbsoluteError(name="mae"),
            keras.metrics.RootMeanSquaredError(name="rmse")]
