"""Reading a legacy PyTorch state dict without torch (and without running pickled code)."""

import pickle

import numpy as np
import pytest

from tl_suite.backbones import efficientnet_lite, torch_reader


def test_torch_reader_reads_every_lite0_parameter():
    state = torch_reader.read_torch_state_dict(efficientnet_lite.lite0_torch_weights_path())
    floats = sum(v.size for v in state.values() if v.dtype == np.float32)
    assert len(state) == 296 and floats == 4_694_024
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_bn0.num_batches_tracked"].dtype == np.int64


def test_torch_reader_refuses_code_in_pickles(tmp_path):
    class Evil:
        def __reduce__(self):
            import os
            return (os.system, ("echo owned",))

    path = tmp_path / "evil.pth"
    with open(path, "wb") as file:
        for header in (0x1950A86A20F9469CFC6C, 1001, {}):
            pickle.dump(header, file)
        pickle.dump({"x": Evil()}, file)
    with pytest.raises(pickle.UnpicklingError, match="Refusing to load"):
        torch_reader.read_torch_state_dict(path)
