"""Metrics of token classifiers (labels of -1 mark positions that are not a word's start)."""

import keras


@keras.saving.register_keras_serializable(package="tl_suite")
class MaskedAccuracy(keras.metrics.Mean):
    """Accuracy over positions whose label is >= 0 (word starts of a token classifier)."""

    def __init__(self, name="accuracy", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = keras.ops.cast(y_true, "int32")
        mask = keras.ops.cast(y_true >= 0, "float32")
        correct = keras.ops.cast(
            keras.ops.cast(keras.ops.argmax(y_pred, axis=-1), "int32") == y_true, "float32"
        )
        return super().update_state(correct, sample_weight=mask)
