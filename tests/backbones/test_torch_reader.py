"""Reading a legacy PyTorch state dict without torch (and without running pickled code)."""

import pickle
import time
import tracemalloc

import numpy as np
import pytest

from tl_suite.backbones import efficientnet_lite, torch_reader

_MAGIC, _PROTOCOL, _SYS_INFO = 0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}


def _body(value):
    """``value``'s protocol-2 pickle opcodes without the PROTO header and the final STOP."""
    return pickle.dumps(value, protocol=2)[2:-1]


def _global(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _state_dict_pickle(size, stride, offset, count):
    """``{"w": <float tensor over storage "0" of ``count`` elements>}`` as torch pickles it."""
    storage_id = (b"(" + _body("storage") + _global("torch", "FloatStorage") + _body("0")
                  + _body("cpu") + _body(count) + b"tQ")  # MARK ... TUPLE, BINPERSID
    arguments = (b"(" + storage_id + _body(offset) + _body(tuple(size)) + _body(tuple(stride))
                 + _body(False) + b"t")
    tensor = _global("torch._utils", "_rebuild_tensor_v2") + arguments + b"R"  # REDUCE
    return b"\x80\x02}(" + _body("w") + tensor + b"u."  # EMPTY_DICT, MARK ... SETITEMS, STOP


def _write_pth(path, values=np.arange(4, dtype="<f4"), size=(2, 2), stride=(2, 1), offset=0,
               count=None, replace=None):
    """A legacy .pth holding one tensor; ``replace={position: bytes}`` swaps one of its five
    pickles (0 magic, 1 protocol, 2 sys info, 3 state dict, 4 storage keys)."""
    count = len(values) if count is None else count
    pickles = [pickle.dumps(_MAGIC, protocol=2), pickle.dumps(_PROTOCOL, protocol=2),
               pickle.dumps(_SYS_INFO, protocol=2), _state_dict_pickle(size, stride, offset, count),
               pickle.dumps(["0"], protocol=2)]
    for position, data in (replace or {}).items():
        pickles[position] = data
    path.write_bytes(b"".join(pickles) + np.int64(count).astype("<i8").tobytes() + values.tobytes())
    return path


class _CreatesFile:
    """Unpickling this creates ``marker``: proof that pickled code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_torch_reader_reads_every_lite0_parameter():
    state = torch_reader.read_torch_state_dict(efficientnet_lite.lite0_torch_weights_path())
    floats = sum(v.size for v in state.values() if v.dtype == np.float32)
    assert len(state) == 296 and floats == 4_694_024
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_bn0.num_batches_tracked"].dtype == np.int64


def test_torch_reader_reads_a_crafted_valid_file(tmp_path):
    values = np.arange(6, dtype="<f4")
    path = _write_pth(tmp_path / "ok.pth", values=values, size=(2, 2), stride=(1, 2), offset=1)
    state = torch_reader.read_torch_state_dict(path)
    np.testing.assert_array_equal(state["w"], [[1, 3], [2, 4]])  # transposed view, offset 1
    assert list(state) == ["w"] and state["w"].dtype == np.float32


@pytest.mark.parametrize("position", [0, 1, 2, 3, 4])
def test_torch_reader_runs_no_code_from_any_pickle(tmp_path, position):
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(_CreatesFile(control)))
    assert control.exists()  # the payload does run under a plain pickle.load
    marker = tmp_path / "owned"
    payload = pickle.dumps(_CreatesFile(marker), protocol=2)
    if position == 3:
        payload = pickle.dumps({"w": _CreatesFile(marker)}, protocol=2)
    path = _write_pth(tmp_path / "evil.pth", replace={position: payload})
    with pytest.raises(pickle.UnpicklingError, match=r"evil\.pth is not a safe PyTorch state dict"):
        torch_reader.read_torch_state_dict(path)
    assert not marker.exists()


@pytest.mark.parametrize("size, stride, offset", [((3, 3), (3, 1), 0), ((2, 2), (2, 1), 1),
                                                  ((2, 2), (1, 4), 0)])
def test_torch_reader_refuses_a_tensor_larger_than_its_storage(tmp_path, size, stride, offset):
    path = _write_pth(tmp_path / "big.pth", size=size, stride=stride, offset=offset)
    with pytest.raises(ValueError, match=r"big\.pth is not a valid PyTorch state dict: tensor 'w'"):
        torch_reader.read_torch_state_dict(path)


def _refuses_without_allocating(path, error, match):
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(error, match=match):
            torch_reader.read_torch_state_dict(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000 and time.perf_counter() - start < 5


def test_torch_reader_caps_storage_allocation_by_the_file_size(tmp_path):
    path = _write_pth(tmp_path / "huge.pth", values=np.zeros(0, "<f4"), count=3 << 30)
    assert path.stat().st_size < 400  # a tiny file claiming a 12 GiB storage
    _refuses_without_allocating(path, ValueError, r"huge\.pth is not a valid .* storage '0' claims")


@pytest.mark.parametrize("header", [
    b"\x80\x04\x8e" + (1 << 40).to_bytes(8, "little") + b".",  # BINBYTES8 of 1 TiB
    b"\x80\x02K\x01r" + (1 << 31).to_bytes(4, "little") + b".",  # LONG_BINPUT at memo index 2**31
    b"\x80\x04\x95" + (1 << 40).to_bytes(8, "little") + b"K\x01.",  # FRAME of 1 TiB
])
def test_torch_reader_bounds_pickle_lengths_by_the_file_size(tmp_path, header):
    path = _write_pth(tmp_path / "header.pth", replace={1: header})
    _refuses_without_allocating(path, pickle.UnpicklingError, r"header\.pth is not a valid PyTorch")


def test_torch_reader_refuses_malformed_files(tmp_path):
    path = _write_pth(tmp_path / "magic.pth", replace={0: pickle.dumps(12345)})
    with pytest.raises(ValueError, match="bad magic number"):
        torch_reader.read_torch_state_dict(path)
    path = _write_pth(tmp_path / "keys.pth", replace={4: pickle.dumps(["1"])})
    with pytest.raises(ValueError, match="storage key list does not match"):
        torch_reader.read_torch_state_dict(path)
    path = _write_pth(tmp_path / "short.pth")
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(ValueError, match="claims 4 elements"):
        torch_reader.read_torch_state_dict(path)
    path.write_bytes(b"\x80\x02K")
    with pytest.raises(pickle.UnpicklingError, match=r"short\.pth is not a valid PyTorch"):
        torch_reader.read_torch_state_dict(path)
