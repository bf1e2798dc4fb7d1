"""`MultiWorkerFit`: lets Keras 3's ``fit`` run under ``MultiWorkerMirroredStrategy``.

Keras 3.15 (TensorFlow backend) fails there in two places (keras-team/keras#20585,
tensorflow/tensorflow#72388): the symbolic build reduces a whole distributed batch
(``PerReplica`` cannot be converted to a tensor), and every step's logs are averaged with
``reduce("MEAN", value, axis=0)`` although they are scalars ("Invalid reduction dimension 0").
This mixin builds on this worker's local batch and gives the logs a length-1 axis (they are
already synchronised metric values, so the mean over it is the same number). Outside a
multi-worker strategy it changes nothing. `tests/test_multi_worker.py` trains two worker
processes on localhost, so a Keras upgrade that breaks this is caught.
"""

import keras
import tensorflow as tf


def in_multi_worker(strategy):
    """True when ``strategy`` spans several workers."""
    mode = getattr(getattr(strategy, "extended", None), "_in_multi_worker_mode", None)
    return bool(mode and mode())


def _local(strategy, value):
    if isinstance(value, tf.distribute.DistributedValues):
        return strategy.experimental_local_results(value)[0]
    return value


def _rank_one(model, logs):
    if not in_multi_worker(model.distribute_strategy):
        return logs
    return keras.tree.map_structure(
        lambda v: tf.reshape(v, [1]) if getattr(v, "shape", None) is not None and v.shape.rank == 0 else v,
        logs,
    )


class MultiWorkerFit:
    """Mixin for `keras.Model` subclasses (put it first among the bases)."""

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if iterator is None or not in_multi_worker(strategy):
            return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
        for _, _, batches in iterator:  # the build needs only shapes: this worker's batch
            data_batch = next(batches)
            break
        data_batch = keras.tree.map_structure(lambda v: _local(strategy, v), data_batch)
        return super()._maybe_symbolic_build(data_batch=data_batch)

    def train_step(self, data):
        return _rank_one(self, super().train_step(data))

    def test_step(self, data):
        return _rank_one(self, super().test_step(data))


class HeadTrainer(MultiWorkerFit, keras.Model):
    """A functional `keras.Model` (``HeadTrainer(inputs, outputs)``) that also fits under a
    multi-worker strategy."""
