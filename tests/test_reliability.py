"""Reliability as a careful user tries it (issue 13): real ``kill -9``s at random moments of a
fit, full disks, crafted weight and adapter files, a run gone NaN, two fits of one run.

The kill loops run a small fit in a child process (this file, run as a script: ``python
tests/test_reliability.py worker LOG_DIR cached|plain EPOCHS OUT.npz``), kill it with SIGKILL
after a seeded random delay and run the same command again until one finishes; the result is
then compared with an uninterrupted run of the same command. `benchmarks/robustness.py` uses
the same worker and loop to print its table.
"""

import csv
import errno
import json
import os
import pathlib
import pickle
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

_STARTED = time.monotonic()  # in a worker: about when the process started
HERE = pathlib.Path(__file__).resolve()
EPOCHS = 5
_BEST_TOLERANCE = 1e-4  # best.keras re-evaluated vs the CSV's val_loss (feature folding ~1e-5)


def tiny_splits(shuffle):
    """(train, validation) of 60 tiny images whose class is readable from the pixels, made
    the same way in every process."""
    import tl_suite

    rng = np.random.default_rng(0)
    labels = np.arange(60) % 3
    images = rng.integers(0, 60, size=(60, 20, 20, 3)).astype("uint8")
    for index, label in enumerate(labels):
        images[index, :, :, label] = 200 + rng.integers(0, 50)
    return tl_suite.image_dataset(images=images, labels=labels.astype("int32"), validation_split=0.25,
                                  subset="both", batch_size=8, shuffle=shuffle, seed=0, verbose=False)


def tiny_model(learning_rate=5e-2):
    """The tiny random classifier, identical in every process (seeded, no dropout)."""
    import keras

    import tl_suite

    keras.utils.set_random_seed(0)
    return tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=3, weights=None,
                                           dropout=0.0, learning_rate=learning_rate)


def fit_arguments(cached, epochs=EPOCHS):
    return dict(epochs=epochs, early_stopping_patience=None, seed=3, cache_features=cached)


def _dies(when, epochs):
    """Callbacks (and patches) that SIGKILL this process at a chosen moment: ``"after-last-epoch"``
    (after the last epoch's backup and CSV row, before the run ends) or ``"in-best-write"``
    (half way through writing best.keras)."""
    import keras

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    class AfterLastEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == epochs - 1:
                die()

    if when == "in-best-write":
        def half_save(self, filepath, *args, **kwargs):
            open(filepath, "wb").write(b"PK\x03\x04 half a zip")
            die()

        keras.Model.save = half_save
    return [AfterLastEpoch()] if when == "after-last-epoch" else []


def _worker(log_dir, path, epochs, out, die=None):
    """The child: one fit of the tiny model, slowed by a pause per epoch (so that kills land
    during training, not only during start-up); writes the head weights to ``out``. ``die``:
    see `_dies`."""
    import keras

    import tl_suite

    started = _STARTED

    class Pause(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            print(f"epoch {epoch} ended at {time.monotonic() - started:.2f} s", flush=True)
            time.sleep(0.4)

    cached = path == "cached"
    train, validation = tiny_splits(shuffle=cached)  # the plain path is exact only unshuffled
    model = tiny_model()
    print(f"ready at {time.monotonic() - started:.2f} s", flush=True)
    tl_suite.fit(model, train, validation, log_dir=log_dir, verbose=2,
                 callbacks=[Pause()] + _dies(die, int(epochs)), **fit_arguments(cached, int(epochs)))
    print("fit returned", flush=True)  # a kill from here on is not a kill of the fit
    np.savez(out, *model.head.get_weights())
    print(f"finished at {time.monotonic() - started:.2f} s", flush=True)


def worker_command(log_dir, path, out, epochs=EPOCHS, die=None):
    return [sys.executable, str(HERE), "worker", str(log_dir), path, str(epochs), str(out)] + (
        [die] if die else [])


def _environment():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(HERE.parent.parent))


def run_worker(log_dir, path, out, epochs=EPOCHS):
    """One uninterrupted child run; returns (wall seconds, its output)."""
    started = time.monotonic()
    result = subprocess.run(worker_command(log_dir, path, out, epochs), capture_output=True,
                            text=True, env=_environment(), timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return time.monotonic() - started, result.stdout


def _ready_at(text):
    return float(text.split("ready at ")[1].split(" s")[0]) if "ready at " in text else None


def _read(log):
    log.seek(0)
    return log.read()


def _kill_at_random(process, log, rng, window, ready):
    """Wait for a random moment ``rng.uniform(*window)`` seconds after the worker is ready
    (negative: before, counted back from ``ready``, the start-up time seen last), then kill it
    with SIGKILL unless its fit has already returned. Returns True when it was killed."""
    delay, started = rng.uniform(*window), time.monotonic()
    while delay >= 0 and process.poll() is None and _ready_at(_read(log)) is None:
        time.sleep(0.02)  # timing from the worker's own start-up, whatever the machine's load
    moment = time.monotonic() + delay if delay >= 0 else started + ready + delay
    while process.poll() is None and time.monotonic() < moment:
        time.sleep(0.01)
    if process.poll() is not None or "fit returned" in _read(log):
        process.wait(timeout=900)  # a rerun after a finished fit is a new run: not a kill
        return False
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return True


def kill_until_finished(log_dir, path, out, rng, window, max_kills, epochs=EPOCHS, on_kill=None):
    """Run the worker and kill it (SIGKILL) at a random moment of ``window`` (see
    `kill_delays`), up to ``max_kills`` times, running the same command again after each
    kill, until a run finishes. A process whose fit has returned is not killed (running the
    command again would rightly start a new run). ``on_kill(log_dir)`` is called after each
    kill. Returns (kills, outputs of every process)."""
    kills, outputs, ready = 0, [], -window[0] * 4
    while True:
        with open(pathlib.Path(log_dir).parent / f"{pathlib.Path(log_dir).name}.out", "w+") as log:
            process = subprocess.Popen(worker_command(log_dir, path, out, epochs), stdout=log,
                                       stderr=subprocess.STDOUT, text=True, env=_environment())
            if kills < max_kills:
                kills += _kill_at_random(process, log, rng, window, ready)
            else:
                process.wait(timeout=900)
            outputs.append(_read(log))
            ready = _ready_at(outputs[-1]) or ready
        if process.returncode == 0:
            return kills, outputs
        assert process.returncode == -signal.SIGKILL, outputs[-1][-3000:]
        if on_kill is not None:
            on_kill(log_dir)


def kill_delays(output):
    """The window of kill moments, in seconds after the worker is ready, from an
    uninterrupted worker's ``output``: from late in its start-up (a quarter of it before
    ready) to the end of its second epoch, so that most kills land in feature caching and
    training (each rerun then makes up to two epochs of progress) and some in start-up."""
    ready = _ready_at(output)
    second_epoch = float(output.split("epoch 1 ended at ")[1].split(" s")[0])
    return -0.25 * ready, second_epoch - ready + 0.2


def csv_rows(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def run_folders(log_dir):
    if not pathlib.Path(log_dir).is_dir():
        return []
    return sorted(p for p in pathlib.Path(log_dir).iterdir() if p.is_dir() and p.name.startswith("run-"))


def leftovers(log_dir):
    """Files a crash must not leave behind: partial writes, corrupt backups set aside."""
    return sorted(str(p) for p in pathlib.Path(log_dir).rglob("*")
                  if ".partial-" in p.name or ".corrupt-" in p.name)


def best_model_loss(best_file, validation):
    import keras

    best = keras.saving.load_model(best_file)
    assert all(np.isfinite(w).all() for w in best.get_weights())
    return best.evaluate(validation, verbose=0, return_dict=True)["loss"]


def check_finished_run(log_dir, out, reference, validation, epochs=EPOCHS):
    """The checks after a kill loop; returns the run folder."""
    with_state = [folder for folder in run_folders(log_dir) if (folder / "run.json").exists()]
    assert len(with_state) == 1, with_state  # every rerun resumed the same run
    run = with_state[0]
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
    with np.load(out) as got, np.load(reference or out) as expected:  # None: weights unchecked
        assert len(got.files) == len(expected.files)
        for name in expected.files:
            np.testing.assert_allclose(got[name], expected[name], rtol=1e-5, atol=1e-6, err_msg=name)
    rows = csv_rows(run / "training_log.csv")
    assert [int(row["epoch"]) for row in rows] == list(range(epochs))
    losses = [float(row["val_loss"]) for row in rows]
    assert best_model_loss(run / "best.keras", validation) == pytest.approx(min(losses),
                                                                            rel=_BEST_TOLERANCE)
    assert not leftovers(log_dir) and not (run / "backup").exists()
    return run


def _check_after_kill(log_dir):
    """Whatever a kill left must be readable: run.json, and best.keras when there is one."""
    import keras

    for folder in run_folders(log_dir):
        if (folder / "run.json").exists():
            json.loads((folder / "run.json").read_text())
        if (folder / "best.keras").exists():
            model = keras.saving.load_model(folder / "best.keras")
            assert all(np.isfinite(w).all() for w in model.get_weights())


@pytest.mark.slow
@pytest.mark.parametrize("path", ["cached", "plain"])
def test_ten_real_kills_per_path_resume_to_the_uninterrupted_result(tmp_path, path):
    """10 kills on each path (20 in all): each rerun resumes, and the finished run equals an
    uninterrupted one (head weights, CSV, best.keras), with nothing torn left behind."""
    reference = tmp_path / "reference.npz"
    _, output = run_worker(tmp_path / "reference", path, reference)
    delays = kill_delays(output)
    _, validation = tiny_splits(shuffle=path == "cached")
    rng = np.random.default_rng(13 if path == "cached" else 31)
    kills, cycle = 0, 0
    while kills < 10:  # a cycle may finish before 10 kills: then another one in a new log_dir
        cycle += 1
        log_dir, out = tmp_path / f"killed-{cycle}", tmp_path / f"killed-{cycle}.npz"
        done, outputs = kill_until_finished(log_dir, path, out, rng, delays, 10 - kills,
                                            on_kill=_check_after_kill)
        kills += done
        check_finished_run(log_dir, out, reference, validation)
        started = [text for text in outputs if "Starting run" in text or "Resuming run" in text]
        assert all("Resuming run" in text for text in started[1:]), started
    assert kills >= 10


@pytest.mark.slow
@pytest.mark.parametrize("path", ["cached", "plain"])
@pytest.mark.parametrize("when", ["after-last-epoch", "in-best-write"])
def test_a_kill_at_the_worst_moments_still_ends_with_a_complete_run(tmp_path, path, when):
    """The two moments random kills hit only now and then, made certain: after the last
    epoch's backup (before best.keras is flushed at the end), and in the middle of writing
    best.keras. Running the command again must end with the full run and nothing torn."""
    log_dir, out = tmp_path / "logs", tmp_path / "out.npz"
    died = subprocess.run(worker_command(log_dir, path, out, die=when), capture_output=True,
                          text=True, env=_environment(), timeout=900)
    assert died.returncode == -signal.SIGKILL, died.stdout[-2000:] + died.stderr[-2000:]
    run_worker(log_dir, path, out)
    _, validation = tiny_splits(shuffle=path == "cached")
    check_finished_run(log_dir, out, None, validation)


# ---- fast cases ---------------------------------------------------------------------------

class _InterruptAt:
    """A callback factory: Ctrl-C at the end of epoch ``epoch`` (imports Keras lazily)."""

    def __new__(cls, epoch):
        import keras

        class Interrupt(keras.callbacks.Callback):
            def on_epoch_end(self, index, logs=None):
                if index == epoch:
                    raise KeyboardInterrupt

        return Interrupt()


def _snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in pathlib.Path(folder).rglob("*")
            if p.is_file() and "events.out" not in p.name and p.name != ".lock"}


def _interrupted_run(log_dir, cached=True):
    """A run Ctrl-C'ed after epoch 2 of 5: best.keras and backup/ on disk."""
    import tl_suite

    train, validation = tiny_splits(shuffle=cached)
    with pytest.raises(KeyboardInterrupt):
        tl_suite.fit(tiny_model(), train, validation, log_dir=str(log_dir), verbose=0,
                     callbacks=[_InterruptAt(2)], **fit_arguments(cached))
    run = pathlib.Path(log_dir) / "run-001"
    assert (run / "best.keras").exists() and (run / "backup" / "state.json").exists()
    return train, validation, run


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MiB tmpfs (root only; skipped where mounting is not allowed)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(folder)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill_disk(folder):
    """Fill ``folder``'s file system; returns the filler file."""
    filler = pathlib.Path(folder) / "filler"
    with open(filler, "wb") as file:
        try:
            while True:
                file.write(b"\0" * 65536)
                file.flush()
        except OSError as error:
            assert error.errno == errno.ENOSPC
    return filler


@pytest.mark.parametrize("cached", [True, False])
def test_a_really_full_disk_keeps_the_previous_files_and_says_so(small_disk, cached):
    import tl_suite

    train, validation, run = _interrupted_run(small_disk / "logs", cached)
    before = _snapshot(run)
    filler = fill_disk(small_disk)
    with pytest.raises(Exception) as raised:
        tl_suite.fit(tiny_model(), train, validation, log_dir=str(small_disk / "logs"), verbose=0,
                     **fit_arguments(cached))
    assert _snapshot(run) == before and not leftovers(run)
    assert isinstance(raised.value, tl_suite.DiskFullError), repr(raised.value)  # not "out of memory"
    assert "Free some space" in str(raised.value)
    filler.unlink()  # space again: the same call resumes and finishes
    history = tl_suite.fit(tiny_model(), train, validation, log_dir=str(small_disk / "logs"),
                           verbose=0, **fit_arguments(cached))
    assert history.epoch == [3, 4] and history.run_dir == str(run)
    assert [int(r["epoch"]) for r in csv_rows(run / "training_log.csv")] == list(range(EPOCHS))


def test_an_injected_enospc_keeps_the_backup_and_best_model(tmp_path, monkeypatch):
    import keras

    import tl_suite

    train, validation, run = _interrupted_run(tmp_path)
    before = _snapshot(run)

    def full(self, filepath, *args, **kwargs):
        open(filepath, "wb").write(b"half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(keras.Model, "save_weights", full)
    monkeypatch.setattr(keras.Model, "save", full)
    with pytest.raises(tl_suite.DiskFullError, match="previous version is intact"):
        tl_suite.fit(tiny_model(), train, validation, log_dir=str(tmp_path), verbose=0,
                     **fit_arguments(True))
    after = _snapshot(run)
    assert {k: v for k, v in after.items() if k != "training_log.csv"} == {
        k: v for k, v in before.items() if k != "training_log.csv"}
    assert not leftovers(tmp_path)
    monkeypatch.undo()
    history = tl_suite.fit(tiny_model(), train, validation, log_dir=str(tmp_path), verbose=0,
                           **fit_arguments(True))
    assert history.epoch == [3, 4]
    rows = csv_rows(run / "training_log.csv")
    assert [int(r["epoch"]) for r in rows] == list(range(EPOCHS))
    assert best_model_loss(run / "best.keras", validation) == pytest.approx(
        min(float(r["val_loss"]) for r in rows), rel=_BEST_TOLERANCE)


def test_crafted_pth_files_are_refused_without_running_code(tmp_path):
    from tests.backbones.test_torch_reader import _CreatesFile, _write_pth
    from tl_suite.backbones import torch_reader

    marker = tmp_path / "owned"
    for position in range(5):  # magic, protocol, sys info, state dict, storage keys
        payload = pickle.dumps({"w": _CreatesFile(marker)} if position == 3 else _CreatesFile(marker),
                               protocol=2)
        path = _write_pth(tmp_path / f"evil{position}.pth", replace={position: payload})
        with pytest.raises(pickle.UnpicklingError, match="not a safe PyTorch state dict"):
            torch_reader.read_torch_state_dict(path)
        assert not marker.exists()
    oversized = _write_pth(tmp_path / "oversized.pth", size=(3, 3), stride=(3, 1))
    with pytest.raises(ValueError, match="tensor 'w'"):
        torch_reader.read_torch_state_dict(oversized)
    huge = _write_pth(tmp_path / "huge.pth", values=np.zeros(0, "<f4"), count=3 << 30)
    assert huge.stat().st_size < 400
    started = time.perf_counter()
    with pytest.raises(ValueError, match="storage '0' claims"):
        torch_reader.read_torch_state_dict(huge)
    assert time.perf_counter() - started < 5
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"evil{i}.pth" for i in range(5)] + ["oversized.pth", "huge.pth"])  # nothing written


def test_crafted_adapter_files_are_refused_with_no_side_effect(tmp_path):
    import h5py

    import tl_suite
    from tests.fine_tuning.conftest import VOCABULARY
    from tests.fine_tuning.test_lora import _random_adapter, _refuses_and_leaves_unchanged
    from tl_suite.backbones.text import tiny_bert_spec

    spec = tiny_bert_spec(VOCABULARY)
    model = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, lora_rank=2)
    _, three_classes = _random_adapter(tmp_path, spec, 3, "three")
    _refuses_and_leaves_unchanged(model, three_classes, "same head")
    _, deeper = _random_adapter(tmp_path, spec, 2, "deeper")
    shallow = tl_suite.build_text_classifier(tiny_bert_spec(VOCABULARY, num_layers=1), num_classes=2,
                                             weights=None, lora_rank=2)
    _refuses_and_leaves_unchanged(shallow, deeper, "LoRA variables")
    nan = tmp_path / "nan.lora.h5"
    nan.write_bytes(deeper.read_bytes())
    with h5py.File(nan, "a") as store:
        entry = sorted(name for name in store["lora"] if name != "vars")[-1]
        store[f"lora/{entry}/vars/lora_kernel_b"][...] = np.nan
    _refuses_and_leaves_unchanged(model, nan, "NaN or infinite")
    swapped = VOCABULARY[:5] + [VOCABULARY[6], VOCABULARY[5]] + VOCABULARY[7:]
    other = tl_suite.build_text_classifier(tiny_bert_spec(swapped), num_classes=2, weights=None,
                                           lora_rank=2)
    _refuses_and_leaves_unchanged(other, deeper, "another tokenizer vocabulary")


class _RateAt:
    """A callback factory: set the learning rate to ``rate`` at the start of epoch ``epoch``."""

    def __new__(cls, epoch, rate):
        import keras

        class Rate(keras.callbacks.Callback):
            def on_epoch_begin(self, index, logs=None):
                if index == epoch:
                    self.model.optimizer.learning_rate.assign(rate)

        return Rate()


@pytest.mark.parametrize("cached", [True, False])
def test_a_run_gone_nan_stops_clearly_and_keeps_its_finite_best(tmp_path, cached):
    import tl_suite

    train, validation = tiny_splits(shuffle=cached)
    model = tiny_model()
    with pytest.raises(tl_suite.NonFiniteLossError, match="Training stopped at epoch 3"):
        tl_suite.fit(model, train, validation, log_dir=str(tmp_path), verbose=0,
                     callbacks=[_RateAt(2, float("inf"))], **fit_arguments(cached))
    assert all(np.isfinite(w).all() for w in model.get_weights())
    run = tmp_path / "run-001"
    assert json.loads((run / "run.json").read_text())["status"] == "failed"
    rows = csv_rows(run / "training_log.csv")
    finite = [float(r["val_loss"]) for r in rows if np.isfinite(float(r["val_loss"]))]
    assert len(finite) == 2  # epochs 1 and 2 were finite
    assert best_model_loss(run / "best.keras", validation) == pytest.approx(min(finite),
                                                                            rel=_BEST_TOLERANCE)


def test_a_second_concurrent_fit_of_the_run_is_refused(tmp_path):
    import tl_suite

    log = open(tmp_path / "worker.out", "w+")
    process = subprocess.Popen(worker_command(tmp_path / "logs", "cached", tmp_path / "w.npz", 40),
                               stdout=log, stderr=subprocess.STDOUT, env=_environment())
    try:
        deadline = time.monotonic() + 120
        while "epoch 0 ended" not in (tmp_path / "worker.out").read_text():
            assert process.poll() is None and time.monotonic() < deadline, log.read()
            time.sleep(0.2)
        train, validation = tiny_splits(shuffle=True)
        with pytest.raises(tl_suite.RunLockedError, match="being trained by process"):
            tl_suite.fit(tiny_model(), train, validation, log_dir=str(tmp_path / "logs"), verbose=0,
                         **fit_arguments(True, 40))
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        log.close()
    assert not (tmp_path / "logs" / "run-002").exists()


if __name__ == "__main__" and sys.argv[1:2] == ["worker"]:
    sys.path.insert(0, str(HERE.parent.parent))
    _worker(*sys.argv[2:7])
