"""Frozen EfficientNet-Lite0 + dense head on real Fashion-MNIST: test accuracy.

Split: 5,000 training and 2,000 test images drawn without replacement (seed below) from the
official Fashion-MNIST train and test sets (Debian package `dataset-fashion-mnist`). 10% of the
training images are held out for early stopping. Baseline: scikit-learn logistic regression on
the same frozen, average-pooled Lite0 features of the same images.

Run: `make bench` or `.venv/bin/python benchmarks/image_accuracy.py [--train-size N ...]`.
"""

import argparse
import os
import resource
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

import tl_suite  # noqa: E402
from _common import frozen_features  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-size", type=int, default=5000)
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--source", choices=["system", "subset"], default="system",
                        help="'subset': the 2,000/1,000 images committed in data/ (quick check)")
    args = parser.parse_args()
    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    x_train, y_train, names = tl_suite.load_fashion_mnist("train", source=args.source)
    x_test, y_test, _ = tl_suite.load_fashion_mnist("test", source=args.source)
    train_index = rng.choice(len(x_train), args.train_size, replace=False)
    test_index = rng.choice(len(x_test), args.test_size, replace=False)
    x_train, y_train = x_train[train_index], y_train[train_index]
    x_test, y_test = x_test[test_index], y_test[test_index]
    print(f"Fashion-MNIST: {len(x_train)} train / {len(x_test)} test, seed {args.seed}, "
          "backbone efficientnet_lite0 (ImageNet, frozen)")

    started = time.perf_counter()
    train, validation = tl_suite.image_dataset(
        images=x_train, labels=y_train, class_names=names, validation_split=0.1, subset="both",
        seed=args.seed, verbose=False,
    )
    test = tl_suite.image_dataset(images=x_test, labels=y_test, class_names=names, shuffle=False,
                                  verbose=False)
    model = tl_suite.build_image_classifier("efficientnet_lite0", num_classes=10, seed=args.seed)
    with tempfile.TemporaryDirectory() as log_dir:
        tl_suite.fit(model, train, validation, epochs=args.epochs, log_dir=log_dir, verbose=2)
        result = tl_suite.evaluate(model, test)
    suite_seconds = time.perf_counter() - started

    started = time.perf_counter()
    base_features = frozen_features(model)

    def featurize(images):
        data = tl_suite.image_dataset(images=images, labels=np.zeros(len(images), "int32"),
                                      shuffle=False, verbose=False)
        return np.concatenate([np.asarray(base_features(x)) for x, _ in data])
    classifier = LogisticRegression(max_iter=2000, C=1.0)
    classifier.fit(featurize(x_train), y_train)
    baseline = float((classifier.predict(featurize(x_test)) == y_test).mean())
    baseline_seconds = time.perf_counter() - started

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(result["report"])
    print(f"tl_suite frozen Lite0 + dense head: test accuracy {result['metrics']['accuracy']:.4f} "
          f"({suite_seconds:.0f} s)")
    print(f"logistic regression on the same frozen features: test accuracy {baseline:.4f} "
          f"({baseline_seconds:.0f} s)")
    print(f"peak memory {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
