import errno
import os
import shutil

import pytest

from tl_suite.training import safe_files


def test_write_atomically_replaces_in_one_step(tmp_path):
    path = tmp_path / "a.txt"
    safe_files.write_atomically(str(path), lambda tmp: open(tmp, "w").write("one"))
    safe_files.write_atomically(str(path), lambda tmp: open(tmp, "w").write("two"))
    assert path.read_text() == "two" and os.listdir(tmp_path) == ["a.txt"]


def test_an_interrupted_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "a.json"
    safe_files.write_json(str(path), {"epoch": 1})

    def torn(tmp):
        open(tmp, "w").write('{"epo')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        safe_files.write_atomically(str(path), torn)
    assert safe_files.read_json(str(path)) == {"epoch": 1} and os.listdir(tmp_path) == ["a.json"]
    (tmp_path / "b.json").write_text('{"epo')
    assert safe_files.read_json(str(tmp_path / "b.json")) is None


def test_free_space_is_checked(tmp_path, monkeypatch):
    usage = shutil.disk_usage(tmp_path)._replace(free=10 * 2**20)
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: usage)
    safe_files.check_free_space(str(tmp_path), 2**20, "a backup")
    with pytest.raises(safe_files.DiskFullError, match=r"for a backup: about 20.0 MiB needed, 10.0 MiB free") as error:
        safe_files.check_free_space(str(tmp_path), 20 * 2**20, "a backup")
    assert error.value.errno == errno.ENOSPC
