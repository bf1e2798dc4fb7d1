"""Set the naive-Bayes ratios of a wide-and-deep text head from its training data (once).

See `tl_suite.models.naive_bayes`: the head's TF-IDF weights are scaled per output by how much
more often each term occurs in that output's training examples than in the others. `fit` sets
them before the head's first epoch — from the cached features on the fast path, from the
training texts otherwise — and never again, so a second `fit` continues the same head.
"""

import warnings

import numpy as np
import tensorflow as tf

from tl_suite.models.naive_bayes import NaiveBayesDense, naive_bayes_ratios


def naive_bayes_layer(model):
    """The `NaiveBayesDense` output layer of tl_suite ``model``'s head, or None."""
    head = getattr(model, "head", None)
    try:
        layer = head.get_layer("predictions")
    except (AttributeError, ValueError):
        return None
    return layer if isinstance(layer, NaiveBayesDense) else None


def needs_word_ratios(model):
    """Whether ``model``'s head has naive-Bayes ratios still to set."""
    layer = naive_bayes_layer(model)
    return layer is not None and not layer.has_ratios


def _one_hot(labels, units):
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == units:  # one-hot or multi-hot
        return labels.astype("float64")
    return np.eye(units)[labels.reshape(-1).astype(int)]


def set_word_ratios(model, batches):
    """Set ``model``'s naive-Bayes ratios from ``batches`` of ``(tf_idf, labels)`` (the TF-IDF
    columns of the training examples, and their class ids, one-hot or multi-hot labels).
    Returns True when set; False (nothing done) for a model without the layer or with ratios
    already set.

    Example:
    >>> import types, numpy as np
    >>> from tl_suite.models.heads import build_head
    >>> model = types.SimpleNamespace(head=build_head((9,), 2, gated_columns=1))  # 8 TF-IDF columns
    >>> tf_idf = np.eye(8, dtype="float32")[[1, 1, 2, 2]]  # term 1 in class 0, term 2 in class 1
    >>> set_word_ratios(model, [(tf_idf, np.array([0, 0, 1, 1]))])
    True
    >>> ratios = naive_bayes_layer(model).ratios.numpy()
    >>> bool(ratios[1, 0] > 0 > ratios[2, 0]), set_word_ratios(model, [(tf_idf, np.zeros(4))])
    (True, False)
    """
    layer = naive_bayes_layer(model)
    if layer is None or layer.has_ratios:
        return False
    sums, totals = 0.0, 0.0
    for tf_idf, labels in batches:
        tf_idf = np.asarray(tf_idf, "float64")
        sums = sums + _one_hot(labels, layer.units).T @ tf_idf
        totals = totals + tf_idf.sum(axis=0)
    if np.ndim(sums) == 0:  # no batches
        return False
    layer.set_ratios(naive_bayes_ratios(sums, totals))
    return True


def ratios_from_cache(model, cache):
    """Set the ratios from a `FeatureCache` of the training split (the TF-IDF columns follow
    the encoder's)."""
    layer = naive_bayes_layer(model)
    if layer is None or layer.has_ratios:
        return False
    batches = ((features.numpy()[:, layer.columns:], labels.numpy())
               for features, labels in cache.dataset(shuffle=False))
    return set_word_ratios(model, batches)


def ratios_from_texts(model, dataset, steps=None):
    """Set the ratios from a dataset of ``(texts, labels)`` batches (the model's own TF-IDF
    layer, already adapted, gives the vectors). With ``steps`` (Keras' ``steps_per_epoch``) a
    dataset without a known length (a repeat, a filtered repeat) is read for that many batches;
    an endless one without ``steps`` cannot be read to the end, so the ratios stay unset (a
    plain output layer) with a warning."""
    if not needs_word_ratios(model):
        return False
    cardinality = int(dataset.cardinality())
    if steps and cardinality < 0:  # endless, or unknown (a filtered repeat may be endless)
        dataset = dataset.take(steps)
    elif cardinality == int(tf.data.INFINITE_CARDINALITY):
        warnings.warn(
            "The training dataset repeats forever and no steps_per_epoch was given, so the "
            "head's naive-Bayes TF-IDF ratios were not set (it trains as a plain Dense "
            "layer). Pass steps_per_epoch, or a dataset that ends. Received: an infinite "
            "dataset.", stacklevel=3)
        return False
    batches = ((model.preprocessor.with_tf_idf({}, batch[0])["tf_idf"].numpy(), batch[1].numpy())
               for batch in dataset)
    return set_word_ratios(model, batches)
