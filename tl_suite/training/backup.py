"""`RunBackup`: a crash-safe backup of a run after every epoch, restored when it is resumed.

After each finished epoch the backup writes, each file atomically: the weights (model and
optimizer, ``epoch-NNNN.weights.h5``), the best weights so far when they changed
(``best-NNNN.npz``), then ``state.json`` naming them (epoch, best value, early-stopping count,
anything the trainer adds), keeping the previous state and its files as
``state.previous.json``. A kill at any moment leaves a consistent pair: the state names files
that are complete. A backup that cannot be read falls back to the previous one; if neither
can, the folder is moved aside (``backup.corrupt-<time>``) with a message and the run starts
over — never a permanent failure.
"""

import contextlib
import csv
import os
import shutil
import time

import numpy as np

import keras

from tl_suite.training.best_model import all_finite
from tl_suite.training.safe_files import (check_free_space, read_json, weights_nbytes,
                                          write_atomically, write_json)

STATE, PREVIOUS = "state.json", "state.previous.json"


def save_arrays(path, arrays):
    """``arrays`` (a list) to ``path`` (``.npz``) atomically."""
    def write(temporary):
        with open(temporary, "wb") as file:
            np.savez(file, *arrays)
    write_atomically(path, write)


def load_arrays(path):
    """The list of arrays `save_arrays` wrote."""
    with np.load(path) as data:
        return [data[f"arr_{index}"] for index in range(len(data.files))]


def trim_csv(path, first_epoch):
    """Keep only the complete rows of CSV log ``path`` for epochs before ``first_epoch`` (a
    resumed run rewrites the later ones; a row torn by a crash is dropped)."""
    if not os.path.exists(path):
        return
    with open(path, newline="") as file:
        rows = list(csv.reader(file))
    if not rows:
        return
    header, kept = rows[0], [rows[0]]
    for row in rows[1:]:
        with contextlib.suppress(ValueError, IndexError):
            if len(row) == len(header) and int(row[header.index("epoch")]) < first_epoch:
                kept.append(row)
    if len(kept) != len(rows):
        def write(temporary):
            with open(temporary, "w", newline="") as file:
                csv.writer(file).writerows(kept)
        write_atomically(path, write)


def add_missing_row(path, epoch, logs):
    """Append the row of ``epoch`` (from a backup's ``logs``) to CSV log ``path`` when a crash
    came between the backup and the CSV write."""
    if not logs or not os.path.exists(path):
        return
    with open(path, newline="") as file:
        rows = list(csv.reader(file))
    if not rows or "epoch" not in rows[0] or any(r and r[0] == str(epoch) for r in rows[1:]):
        return
    row = [str(epoch) if key == "epoch" else str(logs.get(key, "NA")) for key in rows[0]]
    with open(path, "a", newline="") as file:
        csv.writer(file).writerow(row)


def _snapshot(model):
    optimizer = getattr(model, "optimizer", None)
    variables = list(optimizer.variables) if optimizer is not None and optimizer.built else []
    return model.get_weights(), [(v, np.array(v)) for v in variables]


def _put_back(model, snapshot):
    weights, optimizer_values = snapshot
    model.set_weights(weights)
    for variable, value in optimizer_values:
        variable.assign(value)


class RunBackup(keras.callbacks.Callback):
    """Backs up the model being fit after each epoch into ``directory``; restores it (weights,
    optimizer, epoch, ``best_model``'s state) when training begins.

    Args:
        directory: The backup folder (``run/backup``).
        best_model: The run's `BestModel`, whose state is kept and restored.
        csv_path: The run's CSV log, trimmed to the epochs before the resumed one.
        initial_epoch: The first epoch when nothing is restored.
        extra_state: Optional callable returning a JSON-able dict stored in the state.
        writer: False on non-chief workers: they restore but never write.
        keep: Keep the backup when training ends (default: remove it).
        verbose: Print what was restored or recovered.
    """

    def __init__(self, directory, best_model=None, csv_path=None, initial_epoch=0,
                 extra_state=None, writer=True, keep=False, verbose=True):
        super().__init__()
        self.directory, self.best_model, self.csv_path = directory, best_model, csv_path
        self.initial_epoch, self.extra_state, self.writer = initial_epoch, extra_state, writer
        self.keep, self.verbose = keep, verbose
        self.restored, self.saved_best_epoch, self.failed = None, None, False

    def path(self, name):
        return os.path.join(self.directory, name)

    def _files(self):
        return os.listdir(self.directory) if os.path.isdir(self.directory) else []

    def has_state(self):
        """Whether the folder holds a readable backup state (the run will resume)."""
        return any(read_json(self.path(name)) for name in (STATE, PREVIOUS))

    def on_train_begin(self, logs=None):
        self.restored = self.restore()
        first = self.restored["epoch"] if self.restored else self.initial_epoch
        if self.restored:
            self.model._initial_epoch = first  # read by Keras' fit after on_train_begin
        if self.writer and self.csv_path:
            trim_csv(self.csv_path, first)
            if self.restored:
                add_missing_row(self.csv_path, first - 1, self.restored.get("logs"))

    def restore(self):
        """Load the newest readable backup; returns its state (None when there is none)."""
        candidates = [s for s in (read_json(self.path(STATE)), read_json(self.path(PREVIOUS))) if s]
        if not candidates:
            if any(n.endswith(".weights.h5") for n in self._files()):
                self._set_aside()  # weights without a readable state
            return None
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        snapshot = _snapshot(self.model)
        for state in candidates:
            try:
                best_weights = (load_arrays(self.path(state["best_weights"]))
                                if state.get("best_weights") else None)
                self.model.load_weights(self.path(state["weights"]))
            except Exception as error:  # torn or corrupt file: try the previous backup
                _put_back(self.model, snapshot)
                if self.verbose:
                    print(f"Backup {self.path(state.get('weights', '?'))} is unreadable "
                          f"({type(error).__name__}); trying the previous one.")
                continue
            if self.best_model is not None:
                self.best_model.set_state(state.get("best_model", {}), best_weights)
            self.saved_best_epoch = state.get("best_model", {}).get("best_epoch")
            if self.verbose:
                print(f"Restored the backup of epoch {state['epoch']} from {self.directory}.")
            return state
        self._set_aside()
        return None

    def _set_aside(self):
        if not os.path.isdir(self.directory) or not self.writer:
            return
        aside = f"{self.directory}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}"
        os.replace(self.directory, aside)
        print(f"No readable backup in {self.directory} (files torn by a crash?): moved it to "
              f"{aside} and starting this run over. Delete that folder when you do not need it.")

    def on_epoch_end(self, epoch, logs=None):
        if not self.writer or not all_finite([np.float64(v) for v in (logs or {}).values()
                                              if np.ndim(v) == 0]):
            return  # never back up a run whose loss went non-finite
        os.makedirs(self.directory, exist_ok=True)
        check_free_space(self.directory, 2 * weights_nbytes(self.model), "the run's backup")
        state = {"epoch": epoch + 1, "weights": f"epoch-{epoch + 1:04d}.weights.h5",
                 "best_weights": None, "best_model": {}, "extra": {},
                 "logs": {k: float(v) for k, v in (logs or {}).items() if np.ndim(v) == 0}}
        write_atomically(self.path(state["weights"]), self.model.save_weights, suffix=".weights.h5")
        state.update(self._best_entries())
        if self.extra_state is not None:
            state["extra"] = self.extra_state()
        previous = read_json(self.path(STATE))
        if previous is not None:
            write_json(self.path(PREVIOUS), previous)
        write_json(self.path(STATE), state)
        self._remove_unused(state, previous)

    def _best_entries(self):
        if self.best_model is None:
            return {}
        best = self.best_model
        name = None if best.best_epoch is None else f"best-{best.best_epoch + 1:04d}.npz"
        if name and best.best_weights is not None and (
                best.best_epoch != self.saved_best_epoch or not os.path.exists(self.path(name))):
            save_arrays(self.path(name), best.best_weights)
            self.saved_best_epoch = best.best_epoch
        return {"best_weights": name if name and os.path.exists(self.path(name)) else None,
                "best_model": best.get_state()}

    def _remove_unused(self, state, previous):
        used = {state["weights"], state["best_weights"], STATE, PREVIOUS}
        if previous is not None:
            used |= {previous.get("weights"), previous.get("best_weights")}
        for name in os.listdir(self.directory):
            stale = ".partial-" in name and f".partial-{os.getpid()}" not in name
            if name not in used and (stale or not name.startswith(".")):
                with contextlib.suppress(OSError):
                    os.remove(self.path(name))

    def on_train_end(self, logs=None):
        if self.writer and not self.keep and not self.failed:
            shutil.rmtree(self.directory, ignore_errors=True)
