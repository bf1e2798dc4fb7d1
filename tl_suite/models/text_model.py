"""Text models: a frozen BERT-family base (inference mode) + pooling + new head, on raw strings.

The tokenizer lives in ``model.preprocessor`` (keras-hub's text classifier preprocessing, with
dynamic padding, text pairs and optional windows for long texts), which ``fit``, ``evaluate``
and ``predict`` map over raw strings inside tf.data, and which is saved with the model.
"""

import keras
import tensorflow as tf

from tl_suite.models import layers
from tl_suite.models.task import TransferModel
from tl_suite.models.text_base import check_text_arguments, enable_lora, load_frozen_text_base
from tl_suite.models.word_ratios import ratios_from_texts
from tl_suite.preprocessing.text import TextPreprocessor
from tl_suite.preprocessing.windows import WindowedTextPreprocessor
from tl_suite.validation import check_integer, label_count

DEFAULT_WIDE_TOKENS = 50_000  # TF-IDF vocabulary of the wide branch (words and word pairs)


def text_features(backbone, pooling, max_windows=1, wide_tokens=None):
    """``(inputs, pooled features)`` of a BERT-family ``backbone``; with ``max_windows > 1``
    inputs are ``(batch, windows, length)`` and each present window is encoded, then averaged.
    With ``wide_tokens`` a ``"tf_idf"`` input of that width joins the pooled features (the
    wide branch)."""
    pool_name = "encoder_pool" if wide_tokens else "pool"
    if max_windows == 1:
        inputs = dict(backbone.input)
        outputs = backbone(backbone.input, training=False)  # dropout off; stays off after unfreeze
        features = layers.pool(pooling, outputs, inputs, name=pool_name)
    else:
        inputs = {name: keras.Input(shape=(None, None), dtype=tensor.dtype, name=name)
                  for name, tensor in backbone.input.items()}
        windows = layers.WindowsToBatch(name="windows_to_batch")(inputs)
        outputs = backbone(windows, training=False)
        vectors = layers.pool(pooling, outputs, windows, name="window_pool")
        features = layers.WindowMean(name=pool_name)(vectors, inputs["padding_mask"])
    if not wide_tokens:
        return inputs, features
    inputs["tf_idf"] = keras.Input(shape=(wide_tokens,), name="tf_idf")
    return inputs, keras.layers.Concatenate(name="pool")([features, inputs["tf_idf"]])


@keras.saving.register_keras_serializable(package="tl_suite")
class TextModel(TransferModel):
    """A text backbone, a pooling layer and a dense head (see `build_text_classifier`)."""

    def __init__(self, backbone, preprocessor, num_outputs, task="classification", pooling="mean",
                 max_windows=1, wide_tokens=None, **kwargs):
        inputs, features = text_features(backbone, pooling, max_windows, wide_tokens)
        encoder_columns = features.shape[-1] - wide_tokens if wide_tokens else None
        super().__init__(backbone, preprocessor, inputs, features, num_outputs, task,
                         gated_columns=encoder_columns, **kwargs)
        self.pooling, self._max_windows, self.wide_tokens = pooling, max_windows, wide_tokens

    @property
    def branches(self):
        """What the head reads: ``"encoder"`` (no wide branch), ``"encoder+tf_idf"`` (wide and
        deep) or ``"tf_idf"`` (the encoder's columns switched off: `fit` chose the wide branch
        alone on validation data)."""
        if not self.wide_tokens:
            return "encoder"
        gate = float(keras.ops.convert_to_numpy(self.head.get_layer("branch_gate").gate))
        return "encoder+tf_idf" if gate else "tf_idf"

    @property
    def max_windows(self):
        return self._max_windows

    def fit(self, x=None, y=None, *args, **kwargs):
        """`keras.Model.fit`; first learns the TF-IDF vocabulary of the wide branch from ``x``
        (the training texts) if it is not learnt yet, and for a `tf.data.Dataset` of ``(texts,
        labels)`` the head's naive-Bayes ratios (`tl_suite.fit` does the same)."""
        if getattr(self.preprocessor, "needs_adapt", False) and x is not None:
            self.preprocessor.adapt(x)
        if isinstance(x, tf.data.Dataset):
            # the head's naive-Bayes ratios, once
            ratios_from_texts(self, x, kwargs.get("steps_per_epoch"))
        return super().fit(x, y, *args, **kwargs)

    def resolve_jit_compile(self, jit_compile):
        """Windowed models pick the windows present in each batch (a data-dependent shape),
        which XLA cannot compile, so they never use it."""
        if self.max_windows == 1:
            return jit_compile
        if jit_compile is True:
            raise ValueError(
                "A text model with max_windows > 1 cannot be XLA-compiled (it selects the windows "
                "present in each batch, a data-dependent shape). Pass jit_compile='auto' or False, "
                "or build with max_windows=1. Received: jit_compile=True."
            )
        return False

    def get_config(self):
        return {**super().get_config(), "pooling": self.pooling, "max_windows": self.max_windows,
                "wide_tokens": self.wide_tokens}


def _make_preprocessor(tokenizer, sequence_length, dynamic_padding, max_windows, wide_tokens):
    if max_windows > 1:
        return WindowedTextPreprocessor(tokenizer, sequence_length=sequence_length,
                                        max_windows=max_windows, dynamic_padding=dynamic_padding,
                                        wide_tokens=wide_tokens)
    return TextPreprocessor(tokenizer, sequence_length=sequence_length,
                            dynamic_padding=dynamic_padding, wide_tokens=wide_tokens)


def _wide_tokens(wide_tokens, lora_rank):
    if wide_tokens == "auto":
        return None if lora_rank else DEFAULT_WIDE_TOKENS
    if wide_tokens is not None:
        check_integer("wide_tokens", wide_tokens, 2, hint=", 'auto' or None")
    return wide_tokens


def _build_text_model(backbone, num_outputs, task, label_names, weights, sequence_length, pooling,
                      dynamic_padding, seed, lora_rank, jit_compile, max_windows, wide_tokens,
                      **head):
    check_text_arguments(sequence_length, head["dropout"], pooling, lora_rank, max_windows)
    wide_tokens = _wide_tokens(wide_tokens, lora_rank)
    spec, base, tokenizer = load_frozen_text_base(backbone, weights, sequence_length, seed)
    pooling = pooling or spec.pooling
    if pooling == "pooler" and "pooled_output" not in base.output:
        pooling = "cls"  # families without a trained pooler (e.g. DistilBERT, RoBERTa)
    model = TextModel(
        base, _make_preprocessor(tokenizer, sequence_length, dynamic_padding, max_windows, wide_tokens),
        num_outputs, task=task, pooling=pooling, max_windows=max_windows, wide_tokens=wide_tokens,
        label_names=label_names,
        backbone_name=spec.name, layer_groups=spec.layer_groups(base, pooling),
        name=f"text_{task}", **head,
    )
    enable_lora(base, lora_rank)
    model.compile(jit_compile=jit_compile)
    return model


def build_text_classifier(
    backbone="minilm_l6",
    num_classes=None,
    multi_label=False,
    weights="pretrained",
    sequence_length=128,
    pooling=None,
    dropout=0.1,
    hidden_units=(),
    hidden_activation="relu",
    learning_rate=None,
    dynamic_padding=True,
    seed=None,
    lora_rank=None,
    jit_compile="auto",
    max_windows=1,
    class_names=None,
    wide_tokens="auto",
):
    """Build a compiled text classifier that takes raw strings (or pairs of strings).

    A text pair ``(first, second)`` is packed as ``[CLS] first [SEP] second [SEP]`` with segment
    ids 0 / 1 (question + answer, user text + item text, ...): give the model batches of pairs
    (``text_dataset(text_column=("a", "b"))``, or ``predict`` on ``[("a", "b"), ...]``).

    Args:
        backbone: ``"minilm_l6"`` (offline default), a keras-hub BERT-family preset name such as
            ``"bert_base_en_uncased"`` (downloaded; needs internet), a local keras-hub preset or
            Hugging Face BERT folder, or a `TextBackboneSpec`.
        num_classes: Number of classes (softmax) or labels (``multi_label=True``, sigmoid);
            optional when ``class_names`` is given.
        multi_label: Independent yes/no labels instead of one class per text.
        weights: ``"pretrained"`` or ``None`` (random initialisation, same architecture).
        sequence_length: Longest tokenized text (or window); longer texts are truncated.
        pooling: ``"mean"`` (masked mean), ``"cls"`` or ``"pooler"``; defaults to the spec's.
        dropout: Dropout before each dense layer of the head.
        hidden_units: Sizes of optional hidden dense layers.
        hidden_activation: Activation of the hidden layers.
        learning_rate: Adam learning rate; ``None``: 1e-2 for a frozen base (a dense head on
            fixed sentence features learns fast: 0.964 on BBC News in 3 epochs vs 0.944 at
            1e-3) and 1e-3 with ``lora_rank``.
        dynamic_padding: Pad each batch to its longest text only.
        seed: Seed for the head's initial weights.
        lora_rank: Train low-rank adapters (LoRA, keras-hub's ``enable_lora``) on the query
            and value projections of every attention layer instead of freezing the base
            outright: only the adapters and the head train; base weights stay unchanged. See
            `save_adapter`, `load_adapter`, `merge_lora`.
        jit_compile: Passed to ``compile`` (``"auto"``: Keras decides; never XLA with
            ``max_windows > 1``).
        max_windows: Read long texts as up to this many consecutive windows of
            ``sequence_length`` tokens (each with its own ``[CLS]``/``[SEP]``): the base encodes
            every window that holds text, and the head sees the mean of the window vectors.
            Costs about one ``sequence_length`` pass per window; 1 (default) truncates.
        class_names: Names of the classes / labels, saved with the model (``fit`` also takes
            them from the training dataset when not given here).
        wide_tokens: Width of the wide branch: each text's TF-IDF vector over this many words
            and word pairs (`TfIdfVectorizer`, vocabulary learnt from the training texts by
            ``fit`` and saved with the model) joins the encoder's pooled features before the
            head, so the head sees both the sentence meaning and the exact words (rare names,
            URLs, the whole text however long); the head's TF-IDF weights are scaled by
            naive-Bayes ratios ``fit`` sets from the training data (`NaiveBayesDense`). ``"auto"`` (default): 50,000 for a frozen base,
            None with ``lora_rank``; None: the encoder's features only. With validation data,
            `fit` also checks whether the TF-IDF branch alone does better and then switches the
            encoder's columns off (``model.branches``; ``fit(choose_branches=False)`` keeps both).

    Returns:
        A compiled `TextModel` (a `TransferModel`, itself a `keras_hub.models.Task`).

    Example:
    >>> import tl_suite
    >>> from tl_suite.backbones.text import tiny_bert_spec
    >>> spec = tiny_bert_spec(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad"])
    >>> model = tl_suite.build_text_classifier(spec, class_names=["neg", "pos"], weights=None)
    >>> model.predict(["good", "bad bad"], verbose=0).shape
    (2, 2)
    >>> model.predict("good", verbose=0).shape  # a single string
    (1, 2)
    >>> model.predict([("good", "bad"), ("bad", "good")], verbose=0).shape  # text pairs
    (2, 2)
    """
    if learning_rate is None:
        learning_rate = 1e-3 if lora_rank else 1e-2
    num_classes = label_count("num_classes", num_classes, class_names, 1 if multi_label else 2)
    return _build_text_model(
        backbone, num_classes, "multi_label" if multi_label else "classification", class_names,
        weights, sequence_length, pooling, dynamic_padding, seed, lora_rank, jit_compile,
        max_windows, wide_tokens, dropout=dropout, hidden_units=hidden_units,
        hidden_activation=hidden_activation, learning_rate=learning_rate,
    )


def build_text_regressor(
    backbone="minilm_l6",
    num_outputs=1,
    weights="pretrained",
    sequence_length=128,
    pooling=None,
    dropout=0.1,
    hidden_units=(),
    hidden_activation="relu",
    learning_rate=1e-3,
    dynamic_padding=True,
    seed=None,
    lora_rank=None,
    jit_compile="auto",
    max_windows=1,
    output_names=None,
    wide_tokens="auto",
):
    """Build a compiled text regressor (linear outputs, mean squared error) on raw strings or
    text pairs (e.g. user text + item text -> rating).

    Arguments are those of `build_text_classifier`; ``num_outputs`` is the number of targets and
    ``output_names`` optionally names them (saved with the model as its label names).

    Example:
    >>> import tl_suite
    >>> from tl_suite.backbones.text import tiny_bert_spec
    >>> spec = tiny_bert_spec(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad"])
    >>> model = tl_suite.build_text_regressor(spec, weights=None)
    >>> model.predict(["good good"], verbose=0).shape
    (1, 1)
    """
    num_outputs = label_count("num_outputs", num_outputs, output_names, 1)
    return _build_text_model(
        backbone, num_outputs, "regression", output_names, weights, sequence_length, pooling,
        dynamic_padding, seed, lora_rank, jit_compile, max_windows, wide_tokens, dropout=dropout,
        hidden_units=hidden_units, hidden_activation=hidden_activation,
        learning_rate=learning_rate,
    )
