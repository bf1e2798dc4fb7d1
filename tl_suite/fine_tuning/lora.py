"""LoRA adapters of text backbones: `save_adapter`, `load_adapter` and `merge_lora` (the
builders enable LoRA with `tl_suite.models.text_base.enable_lora`)."""

import hashlib
import json
import os
import tempfile
import warnings

import h5py
import keras
import numpy as np

from tl_suite.fine_tuning.freezing import freeze
from tl_suite.models.compiling import is_transfer_model
from tl_suite.models.text_base import lora_layer_paths, parent_path

# Attributes of an adapter file that identify the tokenizer vocabulary it was trained with.
_SHA256, _SIZE = "tl_suite_vocabulary_sha256", "tl_suite_vocabulary_size"


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
    The file also records the tokenizer's vocabulary (`vocabulary_fingerprint`), so that an
    adapter is never loaded into a model that reads other token ids. It is written to a
    temporary file renamed over ``filepath``: an interrupted save keeps the previous file.

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
    fingerprint = vocabulary_fingerprint(model)
    directory, name = os.path.split(os.path.abspath(filepath))
    # Written beside the target and renamed over it: an interrupted save leaves the previous file.
    partial = os.path.join(directory, f".{name}.{os.getpid()}.partial.lora.h5")
    try:
        backbone.save_lora_weights(partial)
        with h5py.File(partial, "a") as store:
            group = store.create_group("tl_suite_head")
            for index, weight in enumerate(model.head.weights):
                group.create_dataset(str(index), data=np.array(weight))
            if fingerprint is not None:
                store.attrs[_SHA256], store.attrs[_SIZE] = fingerprint
        os.replace(partial, filepath)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def vocabulary_fingerprint(model):
    """``(sha256 hex digest, size)`` of the vocabulary of ``model``'s tokenizer, or None for a
    model without one. Adapters learn token ids: they only mean something with this vocabulary.

    Example:
    >>> import tl_suite
    >>> from tl_suite.backbones.text import tiny_bert_spec
    >>> spec = tiny_bert_spec(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad"])
    >>> model = tl_suite.build_text_classifier(spec, num_classes=2, weights=None)
    >>> digest, size = vocabulary_fingerprint(model)
    >>> len(digest), size
    (64, 7)
    """
    tokenizer = getattr(getattr(model, "preprocessor", None), "tokenizer", None)
    if tokenizer is None or not hasattr(tokenizer, "get_vocabulary"):
        return None
    vocabulary = [token.decode("utf-8", "backslashreplace") if isinstance(token, bytes) else str(token)
                  for token in tokenizer.get_vocabulary()]
    text = json.dumps(vocabulary, ensure_ascii=False)  # unambiguous, whatever the tokens hold
    return hashlib.sha256(text.encode("utf-8")).hexdigest(), len(vocabulary)


def load_adapter(model, filepath):
    """Load `save_adapter`'s LoRA and head weights into ``model`` (built with the same backbone,
    head and ``lora_rank``).

    All or nothing: the whole file is checked against ``model`` first (every LoRA variable of
    the model present with its shape and no other, the same rank, the head's weight count and
    shapes, finite values of the model's kinds, the same tokenizer vocabulary), and only then is
    anything assigned; a file that does not fit raises a ValueError and leaves ``model``
    unchanged. A file without a vocabulary fingerprint (saved by an older tl_suite) loads with
    a warning, since its vocabulary cannot be checked.
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
        unchecked = _check_vocabulary(model, store.attrs, filepath)
        assignments = _lora_assignments(backbone, store["lora"], filepath)
        assignments += _head_assignments(model.head, store["tl_suite_head"], filepath)
    if unchecked:
        warnings.warn(unchecked, stacklevel=2)
    for variable, value in assignments:
        variable.assign(value)


def _check_vocabulary(model, attributes, filepath):
    """Refuse an adapter saved for another vocabulary than ``model``'s. Returns a warning
    message when the vocabulary cannot be checked, else None."""
    if _SHA256 not in attributes:
        return (f"{filepath!r} records no tokenizer vocabulary (it was saved by an older "
                "tl_suite), so tl_suite cannot check that its adapters were trained on this "
                "model's token ids. Save it again with save_adapter to record the vocabulary.")
    saved_digest, saved_size = attributes[_SHA256], attributes.get(_SIZE)
    if isinstance(saved_digest, bytes):
        saved_digest = saved_digest.decode("ascii", "replace")
    if not isinstance(saved_size, (int, np.integer)) or isinstance(saved_size, bool):
        saved_size = None
    if not isinstance(saved_digest, str) or len(saved_digest) != 64 or saved_size is None:
        raise ValueError(f"{filepath!r} holds a malformed vocabulary fingerprint: not an adapter "
                         "file written by save_adapter.")
    fingerprint = vocabulary_fingerprint(model)
    if fingerprint is None:
        return (f"{filepath!r} was saved for a {int(saved_size):,}-token vocabulary but the model "
                "has no tokenizer to compare it with: make sure it reads the same token ids.")
    if (saved_digest, int(saved_size)) != fingerprint:
        raise ValueError(
            f"{filepath!r} was saved for another tokenizer vocabulary ({int(saved_size):,} "
            f"tokens, sha256 {saved_digest[:12]}...) than the model's ({fingerprint[1]:,} tokens, "
            f"sha256 {fingerprint[0][:12]}...): its adapters learned other token ids. Build the "
            "model with the backbone (and tokenizer) that saved the adapter."
        )
    return None


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
