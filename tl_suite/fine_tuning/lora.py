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
    head and ``lora_rank``).

    All or nothing: the whole file is checked against ``model`` first (every LoRA variable of
    the model present with its shape and no other, the same rank, the head's weight count and
    shapes, finite values of the model's kinds), and only then is anything assigned; a file that
    does not fit raises a ValueError and leaves ``model`` unchanged.
    """
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"No adapter file at {filepath!r}. Received: filepath={filepath!r}.")
    backbone = lora_backbone(model)
    try:
        store = h5py.File(filepath, "r")
    except OSError as error:
        raise ValueError(f"{filepath!r} is not an adapter file written by save_adapter: {error}") from None
    with store:
        if not isinstance(store.get("lora"), h5py.Group) or not isinstance(
            store.get("tl_suite_head"), h5py.Group
        ):
            raise ValueError(
                f"{filepath!r} is not an adapter file written by save_adapter (it needs the "
                f"groups 'lora' and 'tl_suite_head'). Received: groups {sorted(store)}."
            )
        assignments = _lora_assignments(backbone, store["lora"], filepath)
        assignments += _head_assignments(model.head, store["tl_suite_head"], filepath)
    for variable, value in assignments:
        variable.assign(value)


def _lora_variables(backbone):
    """``{file entry: variable}`` for each LoRA variable, keyed as keras-hub's
    ``save_lora_weights`` writes them: by the index of the layer among the backbone's layers
    that have weights (layer names are not unique)."""
    # keras-hub's LoRA file format is defined by these private attributes (its own
    # `save_lora_weights` / `load_lora_weights` read them); validating the file needs the same.
    layers = [layer for layer in backbone._flatten_layers(include_self=False) if layer.weights]
    return {
        f"{index}/vars/{name}": getattr(layers[index], name)
        for index in backbone._lora_enabled_layers
        for name in ("lora_kernel_a", "lora_kernel_b")
    }


def _lora_assignments(backbone, group, filepath):
    """The (variable, value) pairs of the file's LoRA group, once all of it fits ``backbone``."""
    entries = {}
    group.visititems(lambda name, item: entries.update({name: item}) if _is_dataset(item) else None)
    rank = entries.pop("vars/rank", None)
    if rank is None or rank.shape != () or rank.dtype.kind not in "iu" or rank[()] != backbone._lora_rank:
        raise ValueError(
            f"{filepath!r} holds LoRA adapters of rank {None if rank is None else rank[()]!r} but "
            f"the model has lora_rank={backbone._lora_rank}. Build the model with the same lora_rank."
        )
    variables = _lora_variables(backbone)
    missing, extra = sorted(set(variables) - set(entries)), sorted(set(entries) - set(variables))
    if missing or extra:
        raise ValueError(
            f"{filepath!r} does not fit the model's LoRA adapters: the model has {len(variables)} "
            f"LoRA variables, the file {len(entries)} (missing from the file: {missing[:4]}, not "
            f"in the model: {extra[:4]}). Build the model with the same backbone (number of "
            "layers) and lora_rank as the one that saved the adapter."
        )
    return [(variables[name], _checked_value(variables[name], entries[name], "LoRA", filepath))
            for name in sorted(variables)]


def _is_dataset(item):
    return isinstance(item, h5py.Dataset)


def _head_assignments(head, group, filepath):
    """The (variable, value) pairs of the file's head group, once all of it fits ``head``."""
    expected = [str(index) for index in range(len(head.weights))]
    if sorted(group) != sorted(expected) or not all(_is_dataset(group[key]) for key in expected):
        raise ValueError(
            f"{filepath!r} holds {len(group)} head weights but the model's head has "
            f"{len(head.weights)}. Build the model with the same head (num_classes, hidden_units)."
        )
    return [(weight, _checked_value(weight, group[key], "Head", filepath))
            for key, weight in zip(expected, head.weights)]


def _checked_value(variable, dataset, kind, filepath):
    """``dataset``'s value if it has ``variable``'s shape and kind of number and is finite."""
    value = dataset[()]
    if value.shape != tuple(variable.shape):
        raise ValueError(
            f"{kind} weight {variable.path} is {tuple(variable.shape)} in the model but "
            f"{value.shape} in {filepath!r}. Build the model with the same head, backbone and "
            "lora_rank as the one that saved the adapter."
        )
    if value.dtype.kind != np.dtype(variable.dtype).kind:
        raise ValueError(
            f"{kind} weight {variable.path} is {variable.dtype} in the model but {value.dtype} in "
            f"{filepath!r}: not an adapter that save_adapter wrote for this model."
        )
    if value.dtype.kind in "fc" and not np.all(np.isfinite(value)):
        raise ValueError(f"{kind} weight {variable.path} in {filepath!r} holds NaN or infinite values.")
    return value


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
