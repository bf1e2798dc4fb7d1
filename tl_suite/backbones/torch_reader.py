"""Read a legacy (non-zip) ``torch.save`` state dict without importing torch.

The legacy format is a sequence of pickles: a magic number, a protocol version, a sys-info dict,
the object itself (tensors refer to storages by persistent id), the list of storage keys, and
then each storage's raw bytes (an 8-byte little-endian element count followed by the elements).

A crafted file cannot run code or exhaust memory: every pickle is first walked opcode by opcode
without running it (so its lengths and memo indices are bounded by the file), then loaded by a
restricted unpickler (the header pickles may name no global at all, the state dict only the few
a plain state dict needs); every storage must fit in the bytes left in the file, and every
tensor's size, offset and stride must stay inside its storage before it is built.
"""

import collections
import io
import pickle
import pickletools

import numpy as np

_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
_MEMO_OPCODES = {"PUT", "BINPUT", "LONG_BINPUT"}
# What a malformed (rather than malicious) pickle makes the unpickler raise.
_MALFORMED_PICKLE_ERRORS = (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
                            RecursionError)


class _StorageType:
    def __init__(self, name):
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _TensorRef:
    """A tensor whose storage bytes come later in the file."""

    def __init__(self, storage_key, offset, size, stride):
        self.storage_key = storage_key
        self.offset = offset
        self.size = tuple(size)
        self.stride = tuple(stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *unused):
    return _TensorRef(storage, storage_offset, size, stride)


class _HeaderUnpickler(pickle.Unpickler):
    """The header pickles hold only plain numbers, strings, bools and dicts: no global at all."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(
            f"Refusing to load `{module}.{name}` from a weights file header: it may hold only "
            "plain numbers, strings and dicts."
        )

    def persistent_load(self, persistent_id):
        raise pickle.UnpicklingError("Refusing a persistent id in a weights file header.")


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, storages):
        super().__init__(file, encoding="latin1")
        self._storages = storages

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(
            f"Refusing to load `{module}.{name}` from a weights file: only plain state dicts "
            "of tensors are supported."
        )

    def persistent_load(self, persistent_id):
        if not isinstance(persistent_id, tuple) or len(persistent_id) < 5:
            raise pickle.UnpicklingError(f"Unknown persistent id {persistent_id!r}.")
        kind, storage_type, key = persistent_id[:3]
        if kind != "storage" or not isinstance(storage_type, _StorageType) or not isinstance(key, str):
            raise pickle.UnpicklingError(f"Unknown persistent id {persistent_id[:3]!r}.")
        if self._storages.setdefault(key, storage_type.dtype) != storage_type.dtype:
            raise pickle.UnpicklingError(f"Storage {key!r} is used with two element types.")
        return key


def _scan_pickle(stream, file_size):
    """Walk one pickle's opcodes without running it, so that the lengths, frames and memo
    indices it declares are bounded by the file before the C unpickler allocates for them."""
    start = stream.tell()
    opcodes = 0
    for opcode, argument, _position in pickletools.genops(stream):
        opcodes += 1
        if opcode.name in _MEMO_OPCODES and not 0 <= argument < opcodes:
            raise ValueError(f"memo index {argument} at opcode {opcodes}")
        if opcode.name == "FRAME" and argument > file_size - stream.tell():
            raise ValueError(f"a frame of {argument} bytes past the end of the file")
    stream.seek(start)


def _load(stream, unpickler, file_size, path):
    """One pickle from ``stream``; any failure is an UnpicklingError naming ``path``."""
    try:
        _scan_pickle(stream, file_size)
        return unpickler.load()
    except pickle.UnpicklingError as error:
        raise pickle.UnpicklingError(f"{path} is not a safe PyTorch state dict: {error}") from None
    except _MALFORMED_PICKLE_ERRORS as error:
        raise pickle.UnpicklingError(
            f"{path} is not a valid PyTorch state dict: {type(error).__name__}: {error}"
        ) from None


def _invalid(path, reason):
    return ValueError(f"{path} is not a valid PyTorch state dict: {reason}.")


def _read_pickles(stream, file_size, path):
    """The header, the state dict (name -> _TensorRef), its storages' dtypes and storage keys."""
    magic = _load(stream, _HeaderUnpickler(stream), file_size, path)
    if type(magic) is not int or magic != _MAGIC_NUMBER:
        raise _invalid(path, "bad magic number (not a legacy torch.save file)")
    protocol = _load(stream, _HeaderUnpickler(stream), file_size, path)
    sys_info = _load(stream, _HeaderUnpickler(stream), file_size, path)
    if type(protocol) is not int or not isinstance(sys_info, dict):
        raise _invalid(path, "its header is not a protocol number and a sys-info dict")
    storages = {}
    state = _load(stream, _RestrictedUnpickler(stream, storages), file_size, path)
    if not isinstance(state, dict) or not all(
        isinstance(name, str) and isinstance(ref, _TensorRef)
        and isinstance(ref.storage_key, str) and ref.storage_key in storages
        for name, ref in state.items()
    ):
        raise _invalid(path, "it does not hold a dict of named tensors")
    storage_keys = _load(stream, _HeaderUnpickler(stream), file_size, path)
    keys_are_strings = isinstance(storage_keys, list) and all(isinstance(k, str) for k in storage_keys)
    if not keys_are_strings or sorted(storage_keys) != sorted(storages):
        raise _invalid(path, "its storage key list does not match the storages its tensors use")
    return state, storages, storage_keys


def _read_storages(stream, contents, storages, storage_keys, path):
    """Each storage as a flat read-only array over ``contents``; none may claim more bytes than
    the file still holds (checked before anything is allocated)."""
    position = stream.tell()
    data = {}
    for key in storage_keys:
        dtype = storages[key].newbyteorder("<")
        left = len(contents) - position - 8
        if left < 0:
            raise _invalid(path, f"it is truncated before storage {key!r}")
        count = int.from_bytes(contents[position:position + 8], "little", signed=True)
        if count < 0 or count * dtype.itemsize > left:
            raise _invalid(
                path, f"storage {key!r} claims {count} elements of {dtype.itemsize} bytes but "
                f"only {left} bytes are left in the file"
            )
        data[key] = np.frombuffer(contents, dtype=dtype, count=count, offset=position + 8)
        position += 8 + count * dtype.itemsize
    if position != len(contents):
        raise _invalid(path, f"it has {len(contents) - position} unexpected bytes after its storages")
    return data


def _tensor_array(name, ref, flat, path):
    """A copy of the tensor ``ref`` over ``flat``, once its layout is known to fit inside it."""
    numbers = (ref.offset, *ref.size, *ref.stride)
    if len(ref.size) != len(ref.stride) or any(type(n) is not int or n < 0 for n in numbers):
        raise _invalid(path, f"tensor {name!r} has a malformed size, offset or stride")
    if 0 in ref.size:
        return np.zeros(ref.size, dtype=flat.dtype)
    last = ref.offset + sum((size - 1) * stride for size, stride in zip(ref.size, ref.stride))
    if last >= flat.size:
        raise _invalid(
            path, f"tensor {name!r} (size {ref.size}, offset {ref.offset}, stride {ref.stride}) "
            f"reaches element {last} of a storage of {flat.size} elements"
        )
    array = np.lib.stride_tricks.as_strided(
        flat[ref.offset:], shape=ref.size,
        strides=tuple(stride * flat.dtype.itemsize for stride in ref.stride),
    )
    return np.array(array)


def read_torch_state_dict(path):
    """Return ``{name: numpy array}`` from a legacy-format PyTorch state dict file.

    Args:
        path: Path of a ``.pth`` file written by ``torch.save`` with
            ``_use_new_zipfile_serialization=False`` (the format before PyTorch 1.6).

    Returns:
        An ordered dict mapping parameter names to NumPy arrays.

    Raises:
        pickle.UnpicklingError: a pickle in the file is malformed or names a global that a
            plain state dict does not need (nothing from it is run).
        ValueError: the file is not a legacy state dict, or its storages and tensors do not fit
            in it.
    """
    with open(path, "rb") as file:
        contents = file.read()
    if contents[:2] == b"PK":
        raise ValueError(
            f"{path} is a zip-format torch checkpoint; only the legacy format is "
            "supported without torch. Received: path={path}."
        )
    stream = io.BytesIO(contents)
    state, storages, storage_keys = _read_pickles(stream, len(contents), path)
    data = _read_storages(stream, contents, storages, storage_keys, path)
    return collections.OrderedDict(
        (name, _tensor_array(name, ref, data[ref.storage_key], path)) for name, ref in state.items()
    )
