"""Run folders: each `fit` (or `fine_tune`) writes into its own ``log_dir/run-NNN``.

A run folder holds ``run.json`` (the run's identity — a readable fingerprint of the model and
training configuration — its status and seed), TensorBoard event files, ``training_log.csv``,
``best.keras`` and, while training, ``backup/``. ``log_dir`` is the parent of the runs, so
``tensorboard --logdir log_dir`` compares them and no two runs ever mix their logs.

Choosing the run (``resume``):

- ``"auto"``: continue the newest unfinished run of ``log_dir`` whose identity is this one's
  (a crash resumes by calling the same `fit` again); otherwise start a new run folder, saying
  which unfinished runs of other configurations were left alone.
- ``True``: continue such a run, or raise if there is none.
- ``False``: always start a new run.
- a run name (``"run-002"``) or folder: continue that run; refused when its identity differs.

A lock file (``flock``, released when the process dies) stops a second process from training
the same run at the same time. With several workers (``MultiWorkerMirroredStrategy``),
``log_dir`` itself is the run folder (workers cannot agree on a new name without talking):
give each multi-worker run its own ``log_dir``.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import random
import re
import time

import keras

from tl_suite.training.non_finite import NonFiniteLossError
from tl_suite.training.safe_files import read_json, remove_stale_partials, write_json

RUN_FILE = "run.json"
_RUN_NAME = re.compile(r"^run-(\d+)$")


def _digest(value):
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


_NAMING_KEYS = ("name", "inbound_nodes", "input_layers", "output_layers", "shared_object_id")


def _without_names(config, also=()):
    """``config`` without layer names and the graph links that name them (Keras numbers the
    names of models built again in one process: ``dense_1``, ``dense_2``, ...), nor ``also``."""
    if isinstance(config, dict):
        return {k: _without_names(v, also) for k, v in config.items()
                if k not in _NAMING_KEYS and k not in also}
    if isinstance(config, (list, tuple)):
        return [_without_names(v, also) for v in config]
    return config


def _optimizer_entries(optimizer):
    if optimizer is None:
        return {}
    config = _without_names(optimizer.get_config())
    rate = config.pop("learning_rate", None)
    entries = {"optimizer": f"{type(optimizer).__name__} {_digest(config)}"}
    entries["learning_rate"] = (float(f"{rate:.6g}") if isinstance(rate, (int, float))
                                else _digest(rate))
    return entries


def identity_of(model, **training):
    """A readable fingerprint of ``model`` (architecture, which weights train, compile
    configuration) and of the ``training`` arguments that change what a run computes.

    Two calls give equal dicts exactly when resuming one run with the other is sound.

    Example:
    >>> import tl_suite
    >>> model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=2, weights=None)
    >>> a = identity_of(model, seed=1)
    >>> sorted(a)
    ['architecture', 'learning_rate', 'loss and metrics', 'optimizer', 'seed', 'trainable']
    >>> identity_of(model, seed=2)["seed"], a == identity_of(model, seed=1)
    (2, True)
    """
    compiled = model.get_compile_config() or {}
    compiled = {key: value for key, value in compiled.items() if key != "optimizer"}
    entries = {
        "architecture": _digest([_without_names(keras.saving.serialize_keras_object(model),
                                                ("learning_rate", "card")),
                                 [(tuple(w.shape), str(w.dtype)) for w in model.weights]]),
        "trainable": _digest([bool(w.trainable) for w in model.weights]),
        "loss and metrics": _digest(compiled),
        **_optimizer_entries(getattr(model, "optimizer", None)),
    }
    entries.update({key: value for key, value in training.items()})
    return json.loads(json.dumps(entries, default=str))


def differences(old, new):
    """``"key: old -> new"`` for each entry of two identities that differs."""
    keys = sorted(set(old) | set(new))
    return [f"{key}: {old.get(key)!r} -> {new.get(key)!r}" for key in keys if old.get(key) != new.get(key)]


class RunLockedError(RuntimeError):
    """Another process is training this run now."""


class Run:
    """One run folder: its identity, status, seed and lock.

    Attributes:
        directory: The run folder.
        identity: The identity it was created with.
        state: ``run.json``'s content (``status`` is ``"running"``, ``"finished"`` or
            ``"failed"``; ``seed``; anything a trainer records, e.g. ``stage``).
        resumed: True when this run existed before (it continues from its backup).
    """

    def __init__(self, directory, state, resumed, writer=True):
        self.directory, self.state, self.resumed, self.writer = directory, state, resumed, writer
        self._lock = None

    @property
    def identity(self):
        return self.state["identity"]

    @property
    def name(self):
        return os.path.basename(os.path.normpath(self.directory))

    @property
    def seed(self):
        return self.state["seed"]

    def path(self, *parts):
        """A path inside the run folder."""
        return os.path.join(self.directory, *parts)

    def update(self, **entries):
        """Record ``entries`` in ``run.json`` (atomically)."""
        self.state.update(entries)
        if self.writer:
            write_json(self.path(RUN_FILE), self.state)

    def lock(self):
        """Take the run's lock; `RunLockedError` when another process holds it."""
        if not self.writer:
            return
        handle = open(self.path(".lock"), "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise RunLockedError(
                f"Run {self.directory} is being trained by {holder} right now. Wait for it to "
                "finish, or start a separate run (resume=False, or another log_dir). "
                f"Received: log_dir={os.path.dirname(self.directory)!r}."
            ) from None
        handle.truncate(0)
        handle.write(f"process {os.getpid()}")
        handle.flush()
        self._lock = handle
        remove_stale_partials(self.directory)  # left by a crash during an atomic write

    def __enter__(self):
        return self

    def __exit__(self, error_type, error, traceback):
        """Mark the run finished (or failed, on a non-finite loss) and release its lock."""
        if error_type is None:
            self.update(status="finished")
        elif issubclass(error_type, NonFiniteLossError):
            self.update(status="failed")
        self.release()
        return False

    def release(self):
        """Release the lock (also released when the process dies)."""
        if self._lock is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None


def _runs(log_dir):
    """``(number, folder)`` of the run folders in ``log_dir``, oldest first."""
    if not os.path.isdir(log_dir):
        return []
    found = [(int(m.group(1)), os.path.join(log_dir, e))
             for e in os.listdir(log_dir) if (m := _RUN_NAME.match(e))]
    return sorted(found)


def _is_locked(directory):
    try:
        with open(os.path.join(directory, ".lock"), "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(handle, fcntl.LOCK_UN)
        return False
    except OSError:
        return True


def _new_run(log_dir, identity, seed):
    os.makedirs(log_dir, exist_ok=True)
    number = (_runs(log_dir)[-1][0] if _runs(log_dir) else 0) + 1
    while True:
        directory = os.path.join(log_dir, f"run-{number:03d}")
        try:
            os.mkdir(directory)
            break
        except FileExistsError:
            number += 1
    seed = random.randrange(2**31) if seed is None else seed
    run = Run(directory, {"identity": identity, "status": "running", "seed": seed,
                          "created": time.strftime("%Y-%m-%d %H:%M:%S")}, resumed=False)
    run.update()
    return run


def _named_run(log_dir, resume, identity):
    directory = resume if os.path.isdir(str(resume)) else os.path.join(log_dir, str(resume))
    state = read_json(os.path.join(directory, RUN_FILE))
    if state is None:
        raise FileNotFoundError(
            f"No run to resume at {directory} (no readable {RUN_FILE}). Pass the name of a run "
            f"folder of log_dir (e.g. 'run-001'), resume='auto' or resume=False. Received: "
            f"resume={resume!r}, log_dir={log_dir!r}."
        )
    changed = differences(state["identity"], identity)
    if changed:
        raise ValueError(
            f"Run {directory} was trained with another configuration, so it cannot be "
            f"continued by this one ({'; '.join(changed)}). Call fit with the run's own "
            "configuration, or resume=False for a new run. Received: resume="
            f"{resume!r}."
        )
    return Run(directory, state, resumed=True)


def _unfinished(log_dir):
    """``(folder, state)`` of runs not finished or failed, newest first."""
    found = []
    for _, directory in reversed(_runs(log_dir)):
        state = read_json(os.path.join(directory, RUN_FILE))
        if state is not None and state.get("status") == "running":
            found.append((directory, state))
    return found


def _auto_run(log_dir, identity, resume, seed, verbose):
    others = []
    for directory, state in _unfinished(log_dir):
        if not differences(state["identity"], identity):
            return Run(directory, state, resumed=True)
        if not _is_locked(directory):
            others.append((directory, differences(state["identity"], identity)))
    if resume is True:
        raise FileNotFoundError(
            f"resume=True, but {log_dir} holds no unfinished run of this configuration. "
            "Pass resume='auto' (start a new run when there is none) or the run's name. "
            f"Received: resume=True, log_dir={log_dir!r}."
        )
    run = _new_run(log_dir, identity, seed)
    if verbose:
        for directory, changed in others:
            print(f"Left unfinished run {directory} alone: another configuration "
                  f"({'; '.join(changed[:3])}). Resume it with resume="
                  f"{os.path.basename(directory)!r} and its own configuration.")
    return run


def _check_resume(resume):
    if resume in ("auto", True, False) or isinstance(resume, (str, os.PathLike)):
        return
    raise ValueError(
        "`resume` must be 'auto', True, False or the name of a run folder (e.g. 'run-002'). "
        f"Received: resume={resume!r}."
    )


def open_run(log_dir, identity, resume="auto", seed=None, chief=None, verbose=True):
    """The run to train in: resumed or new (see the module docstring), locked.

    Args:
        log_dir: Parent folder of the runs.
        identity: `identity_of` the model and training arguments.
        resume: ``"auto"``, True, False or a run name/folder.
        seed: The run's seed (drawn and recorded when None; a resumed run keeps its own).
        chief: None for a single process. With several workers (multi-worker strategy),
            True on the chief and False on the others, which write nothing into the run.
        verbose: Print which run folder is used.

    Example:
    >>> import tempfile
    >>> log_dir = tempfile.mkdtemp()
    >>> run = open_run(log_dir, {"learning_rate": 0.01}, verbose=False)
    >>> run.name, run.resumed
    ('run-001', False)
    >>> run.release()  # a crash: the run stays "running"
    >>> again = open_run(log_dir, {"learning_rate": 0.01}, verbose=False)
    >>> again.name, again.resumed, again.seed == run.seed
    ('run-001', True, True)
    >>> again.update(status="finished"); again.release()
    >>> open_run(log_dir, {"learning_rate": 0.01}, verbose=False).name
    'run-002'
    """
    _check_resume(resume)
    if chief is not None:
        return _multi_worker_run(log_dir, identity, seed, chief)
    if resume is False:
        run = _new_run(log_dir, identity, seed)
    elif resume in ("auto", True):
        run = _auto_run(log_dir, identity, resume, seed, verbose)
    else:
        run = _named_run(log_dir, resume, identity)
    run.lock()
    if verbose:
        print(f"{'Resuming' if run.resumed else 'Starting'} run {run.directory}")
    return run


def _multi_worker_run(log_dir, identity, seed, chief):
    """With several workers, ``log_dir`` is the run folder; only the chief writes it."""
    os.makedirs(log_dir, exist_ok=True)
    state = read_json(os.path.join(log_dir, RUN_FILE))
    resumed = state is not None and state.get("status") == "running"
    if not resumed:
        state = {"identity": identity, "status": "running", "seed": 1337 if seed is None else seed}
    elif chief and differences(state["identity"], identity):
        raise ValueError(
            f"{log_dir} holds an unfinished multi-worker run of another configuration "
            f"({'; '.join(differences(state['identity'], identity))}). Use another log_dir, "
            f"or the run's own configuration. Received: log_dir={log_dir!r}."
        )
    run = Run(log_dir, state, resumed=resumed, writer=chief)
    run.update()
    run.lock()
    return run
