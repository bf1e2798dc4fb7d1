"""Loading and checking a frozen BERT-family base for the text builders."""

import keras

from tl_suite import backbones
from tl_suite.backbones import text as text_backbones
from tl_suite.validation import check_choice, check_dropout, check_integer


def check_text_arguments(sequence_length, dropout, pooling=None, lora_rank=None, max_windows=1):
    """Validate the arguments every text builder shares."""
    if not isinstance(sequence_length, int) or sequence_length < 8:
        raise ValueError(
            f"`sequence_length` must be an integer >= 8. Received: sequence_length={sequence_length!r}."
        )
    check_dropout(dropout)
    if pooling is not None:
        check_choice("pooling", pooling, text_backbones.POOLINGS)
    if lora_rank is not None:
        check_integer("lora_rank", lora_rank, 1, hint=" or None")
    check_integer("max_windows", max_windows, 1, hint=" (1: truncate each text to sequence_length)")


def load_frozen_text_base(backbone, weights, sequence_length, seed):
    """``(spec, base, tokenizer)``: the spec's backbone with ``weights``, frozen."""
    spec = backbones.get_text_backbone(backbone)
    if seed is not None:
        keras.utils.set_random_seed(seed)
    base, tokenizer = text_backbones.load_text_backbone(spec, weights)
    limit = base.get_config().get("max_sequence_length")
    if limit and sequence_length > limit:
        raise ValueError(
            f"{spec.name!r} takes at most {limit} tokens. Received: sequence_length={sequence_length}."
        )
    base.trainable = False
    return spec, base, tokenizer


_LORA_KERNEL = "lora_kernel_a"  # the variable keras' `enable_lora` adds to each LoRA layer


def parent_path(path):
    """The layer path of a variable path."""
    return path.rsplit("/", 1)[0]


def lora_layer_paths(backbone):
    """Paths of the layers of ``backbone`` that carry LoRA adapters (empty without LoRA)."""
    return {parent_path(w.path) for w in backbone.weights if w.path.endswith("/" + _LORA_KERNEL)}


def enable_lora(backbone, rank):
    """Enable keras-hub's LoRA (query and value projections) at ``rank``; None does nothing."""
    if rank is None:
        return
    backbone.enable_lora(rank)
    # Keras leaves the biases of LoRA layers trainable; freeze them so that the base stays
    # exactly the pretrained one and the adapter file holds everything that trained. They are
    # found by variable path (a layer's bias sits beside its LoRA kernels), which needs no walk
    # over nested layers (Keras has no public one).
    adapted = lora_layer_paths(backbone)
    for weight in backbone.weights:
        if weight.path.endswith("/bias") and parent_path(weight.path) in adapted:
            weight.trainable = False
