"""`TransferModel`: the one model contract of tl_suite, for images and text alike.

Like keras-hub's `Task` (which it extends): a pretrained ``backbone``, a ``preprocessor`` that
turns raw inputs into the backbone's inputs (mapped over tf.data by ``fit``/``evaluate``/
``predict``), a ``pool`` layer and a new dense ``head``. The model also knows its ``task``, its
label names and its layer groups, all saved with it, and compiles with its task's defaults.
"""

import keras
import keras_hub
import tensorflow as tf

from tl_suite.models import heads
from tl_suite.models.multi_worker import MultiWorkerFit


def _check_label_names(label_names, num_outputs):
    if label_names is None:
        return None
    names = [str(name) for name in label_names]
    if len(names) != num_outputs or len(set(names)) != len(names):
        raise ValueError(
            f"`label_names` must be {num_outputs} distinct names, one per output. "
            f"Received: label_names={list(label_names)!r}."
        )
    return names


@keras.saving.register_keras_serializable(package="tl_suite")
class TransferModel(MultiWorkerFit, keras_hub.models.Task):
    """Pretrained backbone + preprocessor + pool + head, with task, labels and layer groups.

    Subclasses (`ImageModel`, `TextModel`, `TokenClassifier`) build ``inputs`` and the pooled
    ``features`` from their backbone and pass them here; this class adds the head and keeps
    what every model shares. Build models with the tl_suite builders, which also compile them.

    Args:
        backbone: The pretrained base (a `keras.Model`), frozen by the builders.
        preprocessor: A keras-hub `Preprocessor` from raw batches to ``inputs``.
        inputs, features: Symbolic inputs of the model and the pooled features fed to the head.
        num_outputs: Number of outputs (classes, labels, targets or tags).
        task: One of ``"classification"``, ``"multi_label"``, ``"regression"``,
            ``"token_classification"``.
        label_names: Names of the outputs (class / label / tag names), or None.
        dropout, hidden_units, hidden_activation: The head (see `build_head`).
        learning_rate: Adam learning rate of ``compile()``'s default optimizer.
        backbone_name: Name of the backbone spec the model was built from.
        layer_groups: ``[(group, [base layer names])]``, stem first, declared by the spec.
        gated_columns: Leading feature columns the head can switch off (`BranchGate`; set by
            subclasses, not saved in the config).
        card: What the model's card says of it, filled in by `fit` (``"training"``: data
            sizes, skipped examples, split), `evaluate` (``"evaluation"``: held-out metrics)
            and `calibrate` (``"calibration"``); saved with the model, rendered by `export`.
    """

    def __init__(self, backbone, preprocessor, inputs, features, num_outputs, task,
                 label_names=None, dropout=0.1, hidden_units=(), hidden_activation="relu",
                 learning_rate=1e-3, backbone_name=None, layer_groups=None, gated_columns=None,
                 card=None, **kwargs):
        kwargs.pop("compile", None)
        head = heads.build_head(features.shape[1:], num_outputs, task=task, dropout=dropout,
                                hidden_units=tuple(hidden_units), hidden_activation=hidden_activation,
                                gated_columns=gated_columns)
        super().__init__(inputs=inputs, outputs=head(features), compile=False, **kwargs)
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.num_outputs, self.task = num_outputs, task
        self.dropout, self.hidden_units = dropout, tuple(hidden_units)
        self.hidden_activation, self.learning_rate = hidden_activation, learning_rate
        self.backbone_name = backbone_name
        self.layer_groups = [(str(name), [str(m) for m in members]) for name, members in layer_groups or []]
        self.label_names = label_names
        self.card = dict(card or {})

    @property
    def temperature(self):
        """The temperature of the model's probabilities (1.0 until `calibrate`), or None for
        regression outputs."""
        for layer in self.head.layers:
            if hasattr(layer, "set_temperature"):
                return round(float(keras.ops.convert_to_numpy(layer.temperature)), 6)
        return None

    @property
    def label_names(self):
        """Names of the outputs (class, label or tag names), or None; saved with the model."""
        return self._label_names

    @label_names.setter
    def label_names(self, names):
        self._label_names = _check_label_names(names, self.num_outputs)

    @property
    def class_names(self):
        """Alias of `label_names`."""
        return self.label_names

    @property
    def head(self):
        """The head (`keras.Model`): pooled features -> outputs."""
        return self.get_layer("head")

    @property
    def pool(self):
        """The layer whose output the head takes."""
        return self.get_layer("pool")

    @property
    def max_windows(self):
        """Windows per text (text models read long texts as several windows); 1 otherwise."""
        return 1

    def features_model(self):
        """A `keras.Model` from the model's (preprocessed) inputs to the head's input: the part
        that stays fixed while the base is frozen."""
        return keras.Model(self.inputs, self.pool.output, name="frozen_features")

    def prepare(self, x, y=None):
        """Apply the preprocessor to one batch: ``(x, y)`` -> ``(model inputs, labels)``."""
        x, y, _ = keras.utils.unpack_x_y_sample_weight(self.preprocessor(x, y=y))
        return x, y

    def default_loss(self):
        """The task's default loss (a fresh object)."""
        return heads.default_loss(self.task)

    def default_metrics(self):
        """The task's default metrics (fresh objects)."""
        return heads.default_metrics(self.task, self.num_outputs)

    def resolve_jit_compile(self, jit_compile):
        """The ``jit_compile`` value to compile with (models that cannot use XLA refuse True)."""
        return jit_compile

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        """`keras.Model.compile` with the task's defaults: ``"auto"`` gives Adam at the
        model's ``learning_rate``, the task's loss and its metrics."""
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(self.learning_rate)
        loss = self.default_loss() if loss == "auto" else loss
        metrics = self.default_metrics() if metrics == "auto" else metrics
        kwargs["jit_compile"] = self.resolve_jit_compile(kwargs.get("jit_compile", "auto"))
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def compile_from_config(self, config):
        """Recompile a reloaded model as it was saved (Keras skips models that override
        ``compile`` unless they define this)."""
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def predict(self, x=None, batch_size=None, **kwargs):
        """`keras.Model.predict` that also takes what users hold: file paths, PIL images and
        arrays of mixed sizes (images), a single string or text pairs (text). Returns the raw
        outputs; `tl_suite.predict` returns labels."""
        if x is not None and not isinstance(x, tf.data.Dataset):
            x = self.preprocessor.coerce(x)
        return super().predict(x, batch_size=batch_size, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_outputs": self.num_outputs, "task": self.task,
            "label_names": None if self.label_names is None else list(self.label_names),
            "dropout": self.dropout, "hidden_units": list(self.hidden_units),
            "hidden_activation": self.hidden_activation, "learning_rate": self.learning_rate,
            "backbone_name": self.backbone_name,
            "layer_groups": [[name, list(members)] for name, members in self.layer_groups],
            "card": self.card,
        })
        return config
