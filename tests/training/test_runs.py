import json
import os

import pytest

from tl_suite.training import runs


def _open(log_dir, rate=0.01, **kwargs):
    kwargs.setdefault("verbose", False)
    return runs.open_run(str(log_dir), {"learning_rate": rate, "seed": None}, **kwargs)


def test_a_crashed_run_resumes_and_a_finished_one_gets_a_successor(tmp_path):
    run = _open(tmp_path, seed=None)
    run.release()  # the process died: status stays "running"
    again = _open(tmp_path)
    assert (again.name, again.resumed, again.seed) == ("run-001", True, run.seed)
    again.update(status="finished")
    again.release()
    following = _open(tmp_path)
    assert (following.name, following.resumed) == ("run-002", False)
    assert json.loads(open(following.path("run.json")).read())["status"] == "running"


def test_another_configuration_never_takes_over_an_unfinished_run(tmp_path, capsys):
    _open(tmp_path, rate=0.01).release()
    other = _open(tmp_path, rate=0.3, verbose=True)
    assert other.name == "run-002" and not other.resumed
    printed = capsys.readouterr().out
    assert "Left unfinished run" in printed and "learning_rate: 0.01 -> 0.3" in printed
    assert "resume='run-001'" in printed
    with pytest.raises(ValueError, match=r"another configuration.*learning_rate: 0.01 -> 0.3"):
        _open(tmp_path, rate=0.3, resume="run-001")
    assert _open(tmp_path, rate=0.01, resume="run-001").resumed


def test_resume_choices(tmp_path):
    with pytest.raises(FileNotFoundError, match="resume=True, but"):
        _open(tmp_path, resume=True)
    with pytest.raises(FileNotFoundError, match="No run to resume"):
        _open(tmp_path, resume="run-007")
    with pytest.raises(ValueError, match="Received: resume=3"):
        _open(tmp_path, resume=3)
    first = _open(tmp_path)
    first.release()
    assert _open(tmp_path, resume=False).name == "run-002"


def test_a_second_trainer_of_the_same_run_is_locked_out(tmp_path):
    run = _open(tmp_path)
    with pytest.raises(runs.RunLockedError, match=f"being trained by process {os.getpid()}"):
        _open(tmp_path)
    separate = _open(tmp_path, resume=False)  # a separate run is fine
    assert separate.name == "run-002"
    run.release()
    assert _open(tmp_path, resume="run-001").resumed


def test_identity_ignores_the_numbering_of_names_but_not_the_configuration(make_model):
    first, second = make_model(learning_rate=1e-3), make_model(learning_rate=1e-3)
    assert runs.identity_of(first) == runs.identity_of(second)
    changed = runs.differences(runs.identity_of(first), runs.identity_of(make_model(learning_rate=0.1)))
    assert changed == ["learning_rate: 0.001 -> 0.1"]
    wider = runs.differences(runs.identity_of(first), runs.identity_of(make_model(num_classes=4)))
    assert [line.split(":")[0] for line in wider] == ["architecture"]


def test_multi_worker_runs_use_log_dir_and_only_the_chief_writes(tmp_path):
    chief = _open(tmp_path / "mw", chief=True)
    assert chief.directory == str(tmp_path / "mw") and os.path.exists(chief.path("run.json"))
    worker = _open(tmp_path / "other", chief=False)
    assert not os.path.exists(worker.path("run.json"))
