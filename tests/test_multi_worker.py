"""`MultiWorkerMirroredStrategy` for real: two worker processes on localhost, from `TF_CONFIG`.

Each worker runs the same small script (`WORKER_SCRIPT`): it builds the strategy with
``get_strategy("multi_worker")``, a tiny model inside ``strategy.scope()``, and calls `fit` with
one shared ``log_dir`` (with several workers it is the run folder; only the chief writes it).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

WORKER_SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    index, ports, log_dir, out_dir, epochs, sleep, cache_features = (
        int(sys.argv[1]), sys.argv[2].split(","), sys.argv[3], sys.argv[4], int(sys.argv[5]),
        float(sys.argv[6]), json.loads(sys.argv[7]))
    os.environ["TF_CONFIG"] = json.dumps({
        "cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
        "task": {"type": "worker", "index": index}})
    import numpy as np, keras, tl_suite

    # Another seed on each worker: the strategy must make the initial weights agree.
    keras.utils.set_random_seed(index)
    strategy = tl_suite.get_strategy("multi_worker")
    assert strategy.num_replicas_in_sync == 2, strategy.num_replicas_in_sync
    rng = np.random.default_rng(0)
    labels = np.arange(32) % 2
    images = rng.integers(0, 50, size=(32, 16, 16, 3)).astype("uint8")
    images[labels == 1, :, :, 0] = 220
    train = tl_suite.image_dataset(images=images, labels=labels, batch_size=8, verbose=False)
    with strategy.scope():
        model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=2,
            weights=None, learning_rate=3e-2)
    initial = [np.array(w) for w in model.get_weights()]

    class Marker(keras.callbacks.Callback):
        # Slows the epochs down so that a test can kill a worker in the middle of the run.
        def on_epoch_end(self, epoch, logs=None):
            with open(os.path.join(out_dir, f"marker-{index}.txt"), "a") as file:
                file.write(f"{epoch}\\n")
            time.sleep(sleep)

    history = tl_suite.fit(model, train, epochs=epochs, log_dir=log_dir,
        cache_features=cache_features, early_stopping_patience=None, callbacks=[Marker()],
        verbose=0)
    final = model.get_weights()
    np.savez(os.path.join(out_dir, f"weights-{index}.npz"), *final)
    changed = any(not np.array_equal(a, b) for a, b in zip(initial, final))
    print("RESULT " + json.dumps({"epoch": history.epoch, "changed": changed,
                                  "loss": [float(v) for v in history.history["loss"]]}))
""")

TIMEOUT = 120  # seconds one worker may take; the run here takes about 20


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _start_workers(script, log_dir, out_dir, epochs, sleep=0.0, cache_features=False):
    ports = ",".join(str(port) for port in _free_ports(2))
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    environment.pop("TF_CONFIG", None)
    workers = []
    for index in range(2):
        with open(out_dir / f"log-{index}.txt", "ab") as log:
            workers.append(subprocess.Popen(
                [sys.executable, str(script), str(index), ports, str(log_dir), str(out_dir),
                 str(epochs), str(sleep), json.dumps(cache_features)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            ))
    return workers


def _kill(worker):
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGKILL)  # its own session: the worker and nothing else
    worker.wait(timeout=30)


def _wait(workers, out_dir, timeout=TIMEOUT):
    """Wait for both workers; kill any still running after ``timeout`` s (a hang fails)."""
    deadline = time.monotonic() + timeout
    try:
        for worker in workers:
            worker.wait(timeout=max(deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        pass
    finally:
        hung = [worker for worker in workers if worker.poll() is None]
        for worker in workers:
            _kill(worker)
    assert not hung, f"worker(s) hung for {timeout} s:\n{_logs(out_dir)}"
    for worker in workers:
        assert worker.returncode == 0, _logs(out_dir)
    logs = [(out_dir / f"log-{index}.txt").read_text() for index in range(2)]
    return [json.loads(log.rsplit("RESULT ", 1)[1].splitlines()[0]) for log in logs]


def _logs(out_dir):
    """The end of both workers' output, without TensorFlow's start-up chatter."""
    texts = []
    for index in range(2):
        lines = (out_dir / f"log-{index}.txt").read_text().splitlines()
        kept = [line for line in lines if not line.startswith(("I0000", "WARNING: All log"))]
        texts.append(f"---- worker {index}:\n" + "\n".join(kept)[-3000:])
    return "\n".join(texts)


def _final_weights(out_dir):
    weights = []
    for index in range(2):
        with np.load(out_dir / f"weights-{index}.npz") as data:
            weights.append([data[f"arr_{i}"] for i in range(len(data.files))])
    return weights


def _assert_agree(out_dir):
    chief, other = _final_weights(out_dir)
    assert len(chief) == len(other)
    for a, b in zip(chief, other):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.fixture()
def script(tmp_path):
    path = tmp_path / "worker.py"
    path.write_text(WORKER_SCRIPT)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("cache_features", [False, "auto"])  # "auto": the frozen base's cached path
def test_two_workers_train_and_agree_on_the_weights(tmp_path, script, cache_features):
    log_dir, out_dir = tmp_path / "logs", tmp_path / "out"
    out_dir.mkdir()
    results = _wait(_start_workers(script, log_dir, out_dir, epochs=3,
                                   cache_features=cache_features), out_dir)

    for result in results:
        assert result["epoch"] == [0, 1, 2] and result["changed"], result
        assert np.all(np.isfinite(result["loss"])), result
    _assert_agree(out_dir)
    # Only the chief writes, into log_dir itself; the finished run leaves no backup.
    names = set(os.listdir(log_dir))
    assert {"run.json", "best.keras", "training_log.csv"} <= names, names
    assert "backup" not in names and not any(name.startswith("run-") for name in names), names
    assert json.loads((log_dir / "run.json").read_text())["status"] == "finished"


@pytest.mark.slow
def test_a_killed_worker_resumes_from_the_backup(tmp_path, script):
    log_dir, out_dir = tmp_path / "logs", tmp_path / "out"
    out_dir.mkdir()
    epochs = 6
    workers = _start_workers(script, log_dir, out_dir, epochs=epochs, sleep=1.5)
    state_file = log_dir / "backup" / "state.json"
    deadline = time.monotonic() + TIMEOUT
    try:
        while True:
            try:
                state = json.loads(state_file.read_text())
            except (OSError, ValueError):
                state = {}
            if state.get("epoch", 0) >= 2:
                break
            assert all(worker.poll() is None for worker in workers), (
                f"a worker ended before the kill:\n{_logs(out_dir)}")
            assert time.monotonic() < deadline, "no backup of epoch 2 in time"
            time.sleep(0.1)
        _kill(workers[1])
        try:  # the chief fails (a lost peer) or hangs in a collective
            workers[0].wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
    finally:
        for worker in workers:
            _kill(worker)
    killed_at = json.loads(state_file.read_text())["epoch"]  # the backup the rerun must use
    assert 2 <= killed_at < epochs, killed_at

    results = _wait(_start_workers(script, log_dir, out_dir, epochs=epochs), out_dir)

    for result in results:
        assert result["epoch"] == list(range(killed_at, epochs)), (killed_at, result)
        assert result["changed"], result
    _assert_agree(out_dir)
    rows = (log_dir / "training_log.csv").read_text().splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == [str(epoch) for epoch in range(epochs)], rows
    assert json.loads((log_dir / "run.json").read_text())["status"] == "finished"
    assert not (log_dir / "backup").exists()
