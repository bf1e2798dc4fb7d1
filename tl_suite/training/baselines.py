"""The classical baseline a transfer model must beat, trained on the same split in seconds.

- text: TF-IDF over words and word pairs (min_df 2, sublinear tf) + logistic regression (C=10;
  one per label for multi-label) or ridge regression (regression targets);
- images: logistic regression (or ridge) on pooled pixels (each image averaged down to 8x8 per
  channel, standardised);
- tagged words (NER): each word's most frequent tag in the training data (unseen words: ``O``).

`evaluate(model, test, baseline=train)` prints it beside the model's figures and warns when the
model loses; `run_baseline` gives the figures alone.
"""

import time
import warnings
from collections import Counter, defaultdict

import numpy as np
import tensorflow as tf
from sklearn import metrics as sk_metrics
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tl_suite.data.info import dataset_info

# The metric each task is compared on, and whether higher is better.
PRIMARY_METRIC = {"classification": ("accuracy", True), "multi_label": ("micro_f1", True),
                  "regression": ("rmse", False), "token_classification": ("f1", True)}
_POOLED_SIZE = 8


def _as_numpy_rows(dataset, argument):
    """``(inputs, labels)`` of every batch of ``dataset``, concatenated (text pairs joined)."""
    inputs, labels = [], []
    for batch in dataset:
        if not isinstance(batch, tuple) or len(batch) < 2:
            raise ValueError(f"`{argument}` must yield (inputs, labels) batches. Received: {batch!r:.80}.")
        x, y = batch[0], batch[1]
        if isinstance(x, dict):
            raise ValueError(
                f"A baseline reads raw texts, words or images; `{argument}` holds token ids "
                f"(keys {sorted(x)}): build it without tokenize=True."
            )
        if isinstance(x, tuple):  # a text pair counts as one text
            x = tf.strings.join(list(x), separator=" ")
        inputs.append(x.to_list() if isinstance(x, tf.RaggedTensor) else x.numpy())
        labels.append(y.to_list() if isinstance(y, tf.RaggedTensor) else y.numpy())
    if not inputs:
        raise ValueError(f"`{argument}` is empty: a baseline needs at least one batch.")
    if isinstance(inputs[0], list):
        return sum(inputs, []), sum(labels, [])
    return np.concatenate(inputs), np.concatenate(labels)


def _kind(train, test):
    info = dataset_info(train) or dataset_info(test)
    if info is None:
        raise ValueError(
            "`baseline` needs datasets made by image_dataset, text_dataset or token_dataset (it "
            "reads their kind), or attach it with tl_suite.with_info. Received: a dataset "
            "without DatasetInfo."
        )
    return info


def _images_as_vectors(images):
    images = tf.convert_to_tensor(images)
    if images.shape.rank == 3:
        images = images[..., None]
    pooled = tf.image.resize(tf.cast(images, "float32"), (_POOLED_SIZE, _POOLED_SIZE), method="area")
    return pooled.numpy().reshape(len(images), -1)


def _estimator(kind, task):
    if task == "regression":
        model = Ridge(alpha=1.0)
    else:
        model = LogisticRegression(max_iter=3000, C=10.0 if kind == "text" else 1.0)
        model = OneVsRestClassifier(model) if task == "multi_label" else model
    if kind == "text":
        return make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True), model)
    return make_pipeline(StandardScaler(), model)


def _task_of(info):
    return {"multi_hot": "multi_label", "float": "regression"}.get(info.label_mode, "classification")


def _scores(task, truth, predicted):
    if task == "classification":
        return {"accuracy": float(sk_metrics.accuracy_score(truth, predicted)),
                "macro_f1": float(sk_metrics.f1_score(truth, predicted, average="macro", zero_division=0))}
    if task == "multi_label":
        return {"micro_f1": float(sk_metrics.f1_score(truth, predicted, average="micro", zero_division=0)),
                "macro_f1": float(sk_metrics.f1_score(truth, predicted, average="macro", zero_division=0))}
    return {"mae": float(sk_metrics.mean_absolute_error(truth, predicted)),
            "rmse": float(np.sqrt(sk_metrics.mean_squared_error(truth, predicted)))}


def _vector_baseline(train, test, info):
    x_train, y_train = _as_numpy_rows(train, "train")
    x_test, y_test = _as_numpy_rows(test, "test")
    if y_train.ndim == 2 and info.label_mode == "one_hot":  # MixUp/CutMix labels
        y_train, y_test = y_train.argmax(axis=1), y_test.argmax(axis=1) if y_test.ndim == 2 else y_test
    task = _task_of(info)
    if info.kind == "text":
        x_train, x_test = [t.decode("utf-8", "replace") for t in x_train], [t.decode("utf-8", "replace") for t in x_test]
        name = "TF-IDF + " + ("ridge regression" if task == "regression" else "logistic regression")
    else:
        x_train, x_test = _images_as_vectors(x_train), _images_as_vectors(x_test)
        name = ("ridge" if task == "regression" else "logistic") + " regression on pooled pixels"
    estimator = _estimator(info.kind, task)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; the scores say how it did
        estimator.fit(x_train, y_train)
    return name, task, _scores(task, y_test, estimator.predict(x_test))


def _tag_baseline(train, test, info):
    from seqeval import metrics as seq_metrics

    names = list(info.class_names)
    words, tags = _as_numpy_rows(train, "train")
    counts = defaultdict(Counter)
    for sentence, sentence_tags in zip(words, tags):
        for word, tag in zip(sentence, sentence_tags):
            counts[word.lower()][names[tag]] += 1
    memory = {word: counter.most_common(1)[0][0] for word, counter in counts.items()}
    test_words, test_tags = _as_numpy_rows(test, "test")
    truth = [[names[t] for t in sentence] for sentence in test_tags]
    predicted = [[memory.get(w.lower(), "O") for w in sentence] for sentence in test_words]
    scores = {"f1": float(seq_metrics.f1_score(truth, predicted, zero_division=0)),
              "precision": float(seq_metrics.precision_score(truth, predicted, zero_division=0)),
              "recall": float(seq_metrics.recall_score(truth, predicted, zero_division=0))}
    return "most frequent training tag per word", "token_classification", scores


def run_baseline(train, test):
    """Train the classical baseline of the data's kind on ``train`` and score it on ``test``.

    Args:
        train, test: Datasets from `image_dataset`, `text_dataset` or `token_dataset` (raw
            inputs, not ``tokenize=True``), e.g. the training and test splits of a model.

    Returns:
        ``{"name", "task", "metrics" (name -> float), "seconds"}``.

    Example:
    >>> import tl_suite
    >>> texts = ["good film", "bad film", "a good one", "a bad one"] * 4
    >>> labels = ["pos", "neg"] * 8
    >>> data = tl_suite.text_dataset(texts=texts, labels=labels, verbose=False)
    >>> result = run_baseline(data, data)
    >>> result["name"], result["metrics"]["accuracy"]
    ('TF-IDF + logistic regression', 1.0)
    """
    info = _kind(train, test)
    started = time.perf_counter()
    if info.kind == "tokens":
        name, task, scores = _tag_baseline(train, test, info)
    else:
        name, task, scores = _vector_baseline(train, test, info)
    return {"name": name, "task": task, "metrics": scores, "seconds": time.perf_counter() - started}


def compare(model_metrics, reference, task):
    """``(text, model lost)``: the model's primary metric beside the baseline's."""
    metric, higher_is_better = PRIMARY_METRIC[task]
    ours, theirs = model_metrics[metric], reference["metrics"][metric]
    lost = ours < theirs if higher_is_better else ours > theirs
    text = (f"{metric}: model {ours:.4f} vs baseline ({reference['name']}, trained in "
            f"{reference['seconds']:.1f} s) {theirs:.4f}")
    if lost:
        text += (f"\nWARNING: the transfer model loses to the baseline on {metric} "
                 f"({ours:.4f} vs {theirs:.4f}). Try more head epochs, fine_tune, a longer "
                 "sequence_length or max_windows (text), or check the data.")
    return text, lost
