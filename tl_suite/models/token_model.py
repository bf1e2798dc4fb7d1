"""Per-word taggers (NER): a frozen BERT-family base with a dense head on every token."""

import keras

from tl_suite.models.task import TransferModel
from tl_suite.models.text_base import check_text_arguments, enable_lora, load_frozen_text_base
from tl_suite.preprocessing.tokens import TokenClassifierPreprocessor


@keras.saving.register_keras_serializable(package="tl_suite")
class TokenClassifier(TransferModel):
    """A text backbone with a dense head on every word piece (see `build_token_classifier`).

    Its label names are the tags (``model.tag_names``); each word's label sits on its first
    word piece.
    """

    def __init__(self, backbone, preprocessor, num_outputs=None, task="token_classification",
                 label_names=None, tags=None, **kwargs):
        label_names = label_names if label_names is not None else tags
        inputs = backbone.input
        sequence = backbone(inputs, training=False)["sequence_output"]
        features = keras.layers.Identity(name="pool")(sequence)
        super().__init__(backbone, preprocessor, inputs, features, len(label_names),
                         "token_classification", label_names=label_names, **kwargs)

    @property
    def tag_names(self):
        """The tag names (e.g. ``["O", "B-person", "I-person"]``)."""
        return self.label_names

    @property
    def tags(self):
        """Alias of `tag_names`."""
        return self.label_names


def _check_tags(tags):
    if not tags or len(set(tags)) != len(tags) or not all(isinstance(t, str) for t in tags):
        raise ValueError(f"`tags` must be a list of distinct tag names. Received: tags={tags!r}.")


def build_token_classifier(
    backbone="minilm_l6",
    tags=None,
    weights="pretrained",
    sequence_length=128,
    dropout=0.1,
    hidden_units=(),
    hidden_activation="relu",
    learning_rate=1e-3,
    dynamic_padding=True,
    seed=None,
    lora_rank=None,
    jit_compile="auto",
):
    """Build a compiled per-word tagger (e.g. NER with BIO tags) on raw words.

    The model takes sentences (strings split on whitespace, or ragged batches of words); each
    word's label sits on its first word piece and the other pieces are masked out of the loss.
    Use `tl_suite.predict` (or `predict_tags`) to get one tag per input word back (long
    sentences in windows): by default the most likely tag sequence the tags' BIO/BIOES scheme
    allows (no ``I-x`` after ``O``), as `tl_suite.evaluate` scores it; ``decoding="argmax"``
    gives each word's most likely tag. `tl_suite.fine_tune` has its own defaults for taggers.

    Args:
        backbone: As in `build_text_classifier`.
        tags: The tag names, e.g. ``["O", "B-loc", "I-loc"]`` (``token_dataset(...).tag_names``).
        weights, sequence_length, dropout, hidden_units, hidden_activation, learning_rate,
        dynamic_padding, seed, lora_rank, jit_compile: As in `build_text_classifier`.

    Returns:
        A compiled `TokenClassifier` (a `TransferModel`).

    Example:
    >>> import tl_suite
    >>> from tl_suite.backbones.text import tiny_bert_spec
    >>> spec = tiny_bert_spec(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "paris", "is", "big"])
    >>> model = tl_suite.build_token_classifier(spec, tags=["O", "B-loc"], weights=None)
    >>> [len(row["tags"]) for row in tl_suite.predict(model, ["paris is big", "paris"])]
    [3, 1]
    """
    _check_tags(tags)
    check_text_arguments(sequence_length, dropout, lora_rank=lora_rank)
    spec, base, tokenizer = load_frozen_text_base(backbone, weights, sequence_length, seed)
    preprocessor = TokenClassifierPreprocessor(
        tokenizer, sequence_length=sequence_length, dynamic_padding=dynamic_padding
    )
    model = TokenClassifier(
        base, preprocessor, label_names=list(tags), dropout=dropout, hidden_units=hidden_units,
        hidden_activation=hidden_activation, learning_rate=learning_rate,
        backbone_name=spec.name, layer_groups=spec.layer_groups(base), name="token_classifier",
    )
    enable_lora(base, lora_rank)
    model.compile(jit_compile=jit_compile)
    return model
