"""Helpers shared by the benchmark scripts (not a benchmark itself).

- `frozen_features`: the frozen part of a tl_suite model (preprocessor, backbone, pooling) as
  one traced function, for "bare backbone pass" timings and for baselines on frozen features.
- `EpochTimer`: wall time and step count of each training epoch.
- `report`/`run_children`: run each approach in a fresh child process (``--only NAME``), back
  to back, so that one approach's graphs, caches and memory never help or hurt another; the
  child prints one ``RESULT {json}`` line that the parent collects.
"""

import json
import resource
import subprocess
import sys
import time

import keras
import tensorflow as tf


def frozen_features(model):
    """``features(raw_batch)``: ``model``'s preprocessing, backbone and pooling, traced."""
    extractor = model.features_model()
    return tf.function(lambda x: extractor(model.prepare(x)[0], training=False),
                       reduce_retracing=True)


class EpochTimer(keras.callbacks.Callback):
    """Wall time (``seconds``) and number of training steps (``steps``) of each epoch."""

    def __init__(self):
        super().__init__()
        self.seconds, self.steps = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self._started, self._steps = time.perf_counter(), 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._started)
        self.steps.append(self._steps)


def report(result):
    """Print a child's result (with its peak memory) as the line `run_children` reads."""
    result = dict(result, peak_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print("RESULT " + json.dumps(result), flush=True)


def run_children(script, approaches, arguments, label_width=17):
    """Run ``script --only APPROACH *arguments`` for each approach, one after the other, and
    return ``{approach: result}``; exits with the child's error output if one fails."""
    results = {}
    for approach in approaches:
        output = subprocess.run([sys.executable, script, "--only", approach, *map(str, arguments)],
                                capture_output=True, text=True)
        lines = [line for line in output.stdout.splitlines() if line.startswith("RESULT ")]
        if output.returncode != 0 or not lines:
            sys.exit(f"{approach} run failed:\n{output.stderr[-3000:]}")
        results[approach] = json.loads(lines[-1][len("RESULT "):])
        print(f"  {approach:{label_width}s} {results[approach]['seconds']:7.1f} s   peak memory "
              f"{results[approach]['peak_mib']:,.0f} MiB", flush=True)
    return results
