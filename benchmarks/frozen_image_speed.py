"""Frozen-base image training: the keras.io transfer-learning loop vs `tl_suite.fit`.

Data: real Fashion-MNIST, the first 2,000 training and 1,000 test images of the official splits
(the subset committed in `data/`, no system package needed), no augmentation. As in the
keras.io guide, the held-out images are passed as validation data and evaluated at the end (here
the 1,000 test images play the guide's validation set; nothing is tuned on them: 10 fixed
epochs, no early stopping). Model: EfficientNet-Lite0 (real ImageNet weights, frozen, BatchNorm in inference mode) +
the same dense head, built with the same seed, Adam 1e-3, batch 32, 10 epochs.

- keras.io loop: the recipe of the keras.io "Transfer learning & fine-tuning" guide, i.e.
  `base(x, training=False)` inside the model and
  `model.fit(train, epochs=10, validation_data=test)`: the frozen backbone runs over every image
  in every epoch. Then `model.evaluate(test)`.
- tl_suite: `tl_suite.fit(model, train, test, epochs=10)` (features cached after one backbone
  pass per split, then the head trains on them; TensorBoard, CSV log, checkpoint and backup as
  usual), then `tl_suite.evaluate(model, test)` (report and confusion matrix included; it reuses
  the validation features `fit` computed, since the base has not changed).
- bare pass: one forward pass of the frozen part (preprocessing + backbone + pooling, traced like
  the feature cache's) over the
  same 3,000 images (train + test), the physical lower bound of any frozen-base recipe.

Each runs in a fresh child process, back to back, so peak memory is per approach. Times exclude
building the model (the same for both) and include everything after it.

Run: `.venv/bin/python benchmarks/frozen_image_speed.py [--train-size 2000 --test-size 1000]`.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _common import report, run_children  # noqa: E402


def _data(args):
    import tl_suite

    x_train, y_train, names = tl_suite.load_fashion_mnist("train", limit=args.train_size)
    x_test, y_test, _ = tl_suite.load_fashion_mnist("test", limit=args.test_size)
    train = tl_suite.image_dataset(images=x_train, labels=y_train, class_names=names,
                                   seed=args.seed, verbose=False)
    test = tl_suite.image_dataset(images=x_test, labels=y_test, class_names=names, shuffle=False,
                                  verbose=False)
    return train, test


def _run(approach, args):
    import numpy as np

    import tl_suite
    from _common import frozen_features

    train, test = _data(args)
    model = tl_suite.build_image_classifier("efficientnet_lite0", num_classes=10, seed=args.seed)
    result = {"approach": approach}
    started = time.perf_counter()
    if approach == "keras":
        model.fit(train, epochs=args.epochs, validation_data=test, verbose=0)
        result["accuracy"] = float(model.evaluate(test, verbose=0, return_dict=True)["accuracy"])
    elif approach == "tl_suite":
        with tempfile.TemporaryDirectory() as log_dir:
            tl_suite.fit(model, train, test, epochs=args.epochs, log_dir=log_dir, seed=args.seed,
                         early_stopping_patience=None, verbose=0)
            result["accuracy"] = tl_suite.evaluate(model, test, verbose=False)["metrics"]["accuracy"]
    else:  # bare backbone pass over the same images
        forward = frozen_features(model)
        result["images"] = sum(len(forward(x)) for dataset in (train, test) for x, _ in dataset)
    result["seconds"] = time.perf_counter() - started
    result["trainable"] = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    report(result)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--only", choices=["bare", "tl_suite", "keras"])
    args = parser.parse_args()
    if args.only:
        return _run(args.only, args)

    # Convert/cache the Lite0 weights first so no approach pays for it.
    subprocess.run([sys.executable, "-c", "import tl_suite; tl_suite.build_image_classifier('efficientnet_lite0', num_classes=2)"],
                   check=False, capture_output=True)
    print(f"Fashion-MNIST: first {args.train_size} train / {args.test_size} test images, "
          f"EfficientNet-Lite0 (ImageNet, frozen) + dense head, {args.epochs} epochs, batch 32, "
          f"seed {args.seed}, no augmentation; {os.cpu_count()} CPU cores")
    results = run_children(__file__, ("bare", "tl_suite", "keras"), [
        "--train-size", args.train_size, "--test-size", args.test_size, "--epochs", args.epochs,
        "--seed", args.seed], label_width=9)
    bare, suite, plain = results["bare"], results["tl_suite"], results["keras"]
    print(f"bare backbone pass over {bare['images']:,} images: {bare['seconds']:.1f} s "
          f"({bare['images'] / bare['seconds']:.0f} img/s)")
    print(f"keras.io loop (model.fit {args.epochs} epochs with validation + evaluate): {plain['seconds']:.1f} s, "
          f"test accuracy {plain['accuracy']:.4f}, peak memory {plain['peak_mib']:,.0f} MiB")
    print(f"tl_suite.fit ({args.epochs} epochs) + tl_suite.evaluate: {suite['seconds']:.1f} s, "
          f"test accuracy {suite['accuracy']:.4f}, peak memory {suite['peak_mib']:,.0f} MiB")
    print(f"speed-up tl_suite vs keras.io loop: {plain['seconds'] / suite['seconds']:.1f}x "
          f"(goal >= 10x); accuracy difference {100 * (suite['accuracy'] - plain['accuracy']):+.2f} "
          f"points (goal within 0.5)")
    print(f"tl_suite time / bare backbone pass: {suite['seconds'] / bare['seconds']:.2f}x (goal <= 1.15x)")


if __name__ == "__main__":
    main()
