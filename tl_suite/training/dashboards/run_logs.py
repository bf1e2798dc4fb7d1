"""What a finished `fit` / `fine_tune` run adds to TensorBoard: its HParams session and graph."""

import tensorflow as tf

from tl_suite.training.dashboards.graph import log_graph
from tl_suite.training.dashboards.hparams import log_hparams, run_hyperparameters


def _batch_size(dataset):
    """The size of ``dataset``'s first batch (read once more after training: a dataset does
    not say its batch size otherwise)."""
    first = tf.nest.flatten(next(iter(dataset.take(1))), expand_composites=False)[0]
    return int(first.shape[0])


def log_run(run, model, train, validation, history, options, recipe=None):
    """Write ``run``'s HParams session (its hyperparameters, from ``model``, the datasets,
    `fit`'s ``options`` and `fine_tune`'s ``recipe``, and its best epoch's logs) and the
    model's graph (into ``<run>/train``). Only the process that writes the run's files does.
    """
    if not run.writer:
        return
    hyperparameters = run_hyperparameters(model, train, validation, run.seed, options,
                                          batch_size=_batch_size(train), recipe=recipe)
    log_hparams(run.directory, run.name, hyperparameters, history, options["monitor"])
    log_graph(run.path("train"), model)
