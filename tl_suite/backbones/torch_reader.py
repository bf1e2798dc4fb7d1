"""Read a legacy (non-zip) ``torch.save`` state dict without importing torch.

The legacy format is a sequence of pickles: a magic number, a protocol version, a sys-info dict,
the object itself (tensors refer to storages by persistent id), the list of storage keys, and
then each storage's raw bytes (an 8-byte little-endian element count followed by the elements).
Only the globals a plain state dict needs are allowed, so a crafted file cannot run code.
"""

import collections
import pickle

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
        kind, storage_type, key, _location, _size = persistent_id[:5]
        if kind != "storage":
            raise pickle.UnpicklingError(f"Unknown persistent id kind {kind!r}.")
        self._storages.setdefault(key, storage_type.dtype)
        return key


def read_torch_state_dict(path):
    """Return ``{name: numpy array}`` from a legacy-format PyTorch state dict file.

    Args:
        path: Path of a ``.pth`` file written by ``torch.save`` with
            ``_use_new_zipfile_serialization=False`` (the format before PyTorch 1.6).

    Returns:
        An ordered dict mapping parameter names to NumPy arrays.
    """
    with open(path, "rb") as file:
        if file.read(2) == b"PK":
            raise ValueError(
                f"{path} is a zip-format torch checkpoint; only the legacy format is "
                "supported without torch. Received: path={path}."
            )
        file.seek(0)
        magic = pickle.load(file)
        if magic != _MAGIC_NUMBER:
            raise ValueError(f"{path} is not a legacy torch.save file (bad magic number).")
        pickle.load(file)  # protocol version
        pickle.load(file)  # sys info
        storages = {}
        state = _RestrictedUnpickler(file, storages).load()
        storage_keys = pickle.load(file)
        data = {}
        for key in storage_keys:
            dtype = storages[key]
            count = int(np.frombuffer(file.read(8), dtype="<i8")[0])
            buffer = file.read(count * dtype.itemsize)
            if len(buffer) != count * dtype.itemsize:
                raise ValueError(f"{path} is truncated: storage {key} is incomplete.")
            data[key] = np.frombuffer(buffer, dtype=dtype.newbyteorder("<"))
        leftover = file.read()
    if leftover:
        raise ValueError(f"{path} has {len(leftover)} unexpected bytes after its storages.")
    arrays = collections.OrderedDict()
    for name, ref in state.items():
        flat = data[ref.storage_key]
        itemsize = flat.dtype.itemsize
        array = np.lib.stride_tricks.as_strided(
            flat[ref.offset:],
            shape=ref.size,
            strides=tuple(s * itemsize for s in ref.stride),
        )
        arrays[name] = np.array(array)
    return arrays
