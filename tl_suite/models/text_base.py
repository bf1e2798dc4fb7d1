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


def label_count(argument, count, names, minimum):
    """The number of outputs from a count and/or a list of names (they must agree)."""
    if names is not None:
        if count is not None and count != len(names):
            raise ValueError(
                f"`{argument}` and the names disagree. Received: {argument}={count}, "
                f"names={list(names)} ({len(names)} names)."
            )
        count = len(names)
    if not isinstance(count, int) or isinstance(count, bool) or count < minimum:
        raise ValueError(
            f"`{argument}` must be an integer >= {minimum} (or give the label names). "
            f"Received: {argument}={count!r}."
        )
    return count
