"""LoRA adapters of text backbones: `save_adapter`, `load_adapter` and `merge_lora` (the
builders enable LoRA with `tl_suite.models.text_base.enable_lora`)."""

import os
import tempfile
import warnings

import h5py
import keras
import numpy as np

from tl_suite.fine_tuning.freezing import freeze
from tl_suite.models.compiling import is_transfer_model
from tl_suite.models.text_base import lora_layer_paths, parent_path


def lora_backbone(model):
    """The backbone of ``model`` if it has LoRA adapters, else a ValueError saying how to get them."""
    backbone = model.backbone if is_transfer_model(model) else None
    if backbone is None or not lora_layer_paths(backbone):
        raise ValueError(
            "`model` has no LoRA adapters. Build it with lora_rank=... (e.g. "
            "tl_suite.build_text_classifier('minilm_l6', num_classes=5, lora_rank=8)). "
            f"Received: model={getattr(model, 'name', type(model).__name__)!r}."
        )
    return backbone


def save_adapter(model, filepath):
    """Save only the LoRA adapter weights and the head of a ``lora_rank=`` text model.

    The file (``*.lora.h5``) is small: for MiniLM-L6 at rank 8 about 74k LoRA parameters plus
    the head, instead of 22M base parameters. `load_adapter` puts them into a model built the
    same way. ``model.save(...)`` instead writes a full model with LoRA merged into the kernels.

    Example:
    >>> import tempfile, tl_suite
    >>> from tl_suite.backbones.text import tiny_bert_spec
    >>> spec = tiny_bert_spec(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad"])
    >>> model = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, lora_rank=2)
    >>> path = tempfile.mkdtemp() + "/adapter.lora.h5"
    >>> tl_suite.save_adapter(model, path)
    >>> tl_suite.load_adapter(model, path)
    """
    if not str(filepath).endswith(".lora.h5"):
        raise ValueError(f"The adapter file name must end in `.lora.h5`. Received: filepath={filepath!r}.")
    backbone = lora_backbone(model)
    backbone.save_lora_weights(str(filepath))
    head = model.head
    with h5py.File(filepath, "a") as store:
        group = store.create_group("tl_suite_head")
        for index, weight in enumerate(head.weights):
            group.create_dataset(str(index), data=np.array(weight))


def load_adapter(model, filepath):
    """Load `save_adapter`'s LoRA and head weights into ``model`` (built with the same backbone,
    head and ``lora_rank``)."""
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"No adapter file at {filepath!r}. Received: filepath={filepath!r}.")
    backbone = lora_backbone(model)
    backbone.load_lora_weights(str(filepath))
    head = model.head
    with h5py.File(filepath, "r") as store:
        group = store["tl_suite_head"]
        if len(group) != len(head.weights):
            raise ValueError(
                f"{filepath!r} holds {len(group)} head weights but the model's head has "
                f"{len(head.weights)}. Build the model with the same head (num_classes, hidden_units)."
            )
        for index, weight in enumerate(head.weights):
            value = group[str(index)][()]
            if value.shape != tuple(weight.shape):
                raise ValueError(
                    f"Head weight {weight.path} is {tuple(weight.shape)} in the model but "
                    f"{value.shape} in {filepath!r}. Build the model with the same head."
                )
            weight.assign(value)


def merge_lora(model):
    """Return a copy of ``model`` with each LoRA update merged into its kernel: no adapter
    variables, the same predictions. (``model.save`` writes this merged form too.)

    The copy is frozen like a fresh builder model (only the head trains) and compiled with a
    fresh optimizer: the adapters' optimizer state has no place in it.
    """
    lora_backbone(model)
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "merged.keras")
        model.save(path)
        with warnings.catch_warnings():
            # The saved optimizer tracked the adapters, which the merged copy no longer has.
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            merged = keras.saving.load_model(path)
    freeze(merged)
    return merged
