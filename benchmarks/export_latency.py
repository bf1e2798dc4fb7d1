"""Export: batch-1 latency, batch-32 throughput, size and held-out accuracy of every deployable
artifact of a trained image model and a trained text model (issue 14).

Image: frozen EfficientNet-Lite0 (real ImageNet weights) + dense head trained by `tl_suite.fit`
on cached features (at most `--epochs` epochs, early stopping), on Fashion-MNIST:
`--train-size` training images drawn without replacement (seed below) from the official train
set, tested on the whole official test set (10,000 images from the Debian package
`dataset-fashion-mnist`, which `make bench` installs; the 1,000 committed in data/ without it;
`--test-size` draws fewer); 10% of the training images are held out for early stopping, and
`--calibration-size` more official training images (not trained on) calibrate. Text: frozen
all-MiniLM-L6-v2 + TF-IDF wide branch + dense head (the default recipe, 128 tokens) on BBC
News, 80/20 seeded split of the 2,225 articles; 10% of the training articles calibrate, 10% of
the rest stop early. Both models are then calibrated (`tl_suite.calibrate`, on their
calibration part: not the early-stopping data, on which the model was chosen and a fitted
temperature comes out too sharp) before export, so every artifact carries the temperature.

Artifacts: the Keras model (timed as one traced call of its preprocessing + network, without
`predict`'s per-call overhead), the SavedModel of `tl_suite.export.export` (raw PNG bytes /
strings in, labels out) and the TFLite files of `export_tflite`: float32, float16,
dynamic-range int8 and full-integer int8 (calibrated on 200 training examples). The image
TFLite files take uint8 28 x 28 pixels (resize and scaling inside); the text ones take token ids
and the TF-IDF vector, computed outside by ``model.preprocessor`` (timed on its own row).

Timings: the approaches alternate back to back over `--rounds` rounds (timings drift by +-40% on
this shared machine), `--calls` batch-1 calls in all per approach (median and 10th-90th
percentile), `--batches` batches of 32 per approach (throughput from the median batch).
Accuracy: every artifact on the whole test split.

Goals: SavedModel latency within 1.1x the Keras model's (both models); full-integer int8 image
TFLite >= 2x faster than the Keras model at batch 1, <= 1/4 of the Keras model file's size,
<= 1 point of accuracy lost; expected calibration error on the test split lower after
calibration (both models).

Run: `.venv/bin/python benchmarks/export_latency.py [--quick]` (``--quick``: small data, few
calls, a few minutes).
`--int8-seeds 1337 7 42`: only the int8 image accuracy change, one training run per seed, and
its mean. Use the whole 10,000-image test set: the int8 model gives another label on ~5% of the
images, so on 1,000 images one run's change is uncertain by about +-0.7 points
(sqrt(50) / 1,000), on 10,000 by about +-0.2.
`--calibration-seeds 1337 7 42 --models text`: only the test calibration error before / after
`calibrate`, per seed, beside the range a perfectly calibrated model would show on as many
examples (`calibrated_model_ece`).
"""

import argparse
import io
import os
import pathlib
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

import tl_suite  # noqa: E402
from tl_suite.export import export  # noqa: E402
from tl_suite.export.tflite import (check_tflite, export_tflite, input_specs, load_tflite,  # noqa: E402
                                    run_tflite, tflite_inputs)

QUANTIZATIONS = {"tflite float32": None, "tflite float16": "float16",
                 "tflite dynamic int8": "dynamic_int8", "tflite int8": "int8"}


# ---- the two trained models -------------------------------------------------------------------

def image_model(args):
    """``(model, train, validation, calibration, test, test images, test labels)`` on
    Fashion-MNIST; the calibration images are further official training images."""
    rng = np.random.default_rng(args.seed)
    x_all, y_all, names = tl_suite.load_fashion_mnist("train")
    x_test, y_test, _ = tl_suite.load_fashion_mnist("test")
    train_index = rng.choice(len(x_all), min(args.train_size, len(x_all)), replace=False)
    rest = np.setdiff1d(np.arange(len(x_all)), train_index)
    if not len(rest):  # every image trains: set the last tenth aside instead
        train_index, rest = train_index[:-len(train_index) // 10], train_index[-len(train_index) // 10:]
    calibration_index = rng.choice(rest, min(args.calibration_size, len(rest)), replace=False)
    test_size = len(x_test) if args.test_size is None else min(args.test_size, len(x_test))
    test_index = rng.choice(len(x_test), test_size, replace=False)
    x_test, y_test = x_test[test_index], y_test[test_index]
    train, validation = tl_suite.image_dataset(
        images=x_all[train_index], labels=y_all[train_index], class_names=names,
        validation_split=0.1, subset="both", seed=args.seed, verbose=False)
    calibration, test = (tl_suite.image_dataset(images=x, labels=y, class_names=names,
                                                shuffle=False, verbose=False)
                         for x, y in ((x_all[calibration_index], y_all[calibration_index]),
                                      (x_test, y_test)))
    print(f"Image: Fashion-MNIST {len(train_index)} train (10% held out for early stopping) / "
          f"{len(calibration_index)} calibration / {len(x_test)} test images, seed {args.seed}; "
          "frozen EfficientNet-Lite0 (ImageNet) + dense head")
    model = tl_suite.build_image_classifier("efficientnet_lite0", class_names=names, seed=args.seed)
    return model, train, validation, calibration, test, x_test, y_test


def text_model(args):
    """``(model, train, validation, calibration, test, test texts, test labels)`` on BBC News:
    80/20 split; of the 80%, 10% calibrates and 10% of the rest stops early."""
    splits = {name: tl_suite.text_dataset(
        directory=tl_suite.bbc_news_path(), validation_split=0.2, subset=name, seed=args.seed,
        verbose=False, shuffle=False, batch_size=10_000, max_examples=args.max_examples,
        encoding_errors="replace") for name in ("training", "validation")}
    (train_texts, train_labels), = [(x.numpy(), y.numpy()) for x, y in splits["training"]]
    (test_texts, test_labels), = [(x.numpy(), y.numpy()) for x, y in splits["validation"]]
    names = splits["training"].class_names
    train_texts, test_texts = [t.decode() for t in train_texts], [t.decode() for t in test_texts]
    order = np.random.default_rng(args.seed).permutation(len(train_texts))
    parts = {"calibration": order[:len(order) // 10], "train": order[len(order) // 10:]}
    texts, labels = ({part: [values[i] for i in index] for part, index in parts.items()}
                     for values in (train_texts, [names[i] for i in train_labels]))
    train, validation = tl_suite.text_dataset(
        texts=texts["train"], labels=labels["train"], class_names=names, validation_split=0.1,
        subset="both", seed=args.seed, verbose=False)
    calibration = tl_suite.text_dataset(texts=texts["calibration"], labels=labels["calibration"],
                                        class_names=names, shuffle=False, verbose=False)
    test = tl_suite.text_dataset(texts=test_texts, labels=[names[i] for i in test_labels],
                                 class_names=names, shuffle=False, verbose=False)
    print(f"Text: BBC News {len(texts['train'])} train (10% held out for early stopping) / "
          f"{len(texts['calibration'])} calibration / {len(test_texts)} test articles, seed "
          f"{args.seed}; frozen MiniLM-L6 + TF-IDF branch + dense head, 128 tokens")
    model = tl_suite.build_text_classifier("minilm_l6", class_names=names, seed=args.seed)
    return (model, train, validation, calibration, test, np.asarray(test_texts, dtype=object),
            test_labels)


def train_and_calibrate(model, train, validation, calibration, test, args):
    """Fit the head (early stopping on ``validation``), calibrate on ``calibration`` (data fit
    did not stop on); the test split's calibration error before / after and the Keras model's
    test accuracy."""
    keras.utils.set_random_seed(args.seed)
    with tempfile.TemporaryDirectory() as log_dir:
        tl_suite.fit(model, train, validation, epochs=args.epochs, log_dir=log_dir, verbose=0,
                     early_stopping_patience=3, seed=args.seed)
    calibration = tl_suite.calibrate(model, calibration, verbose=False)
    result = tl_suite.evaluate(model, test, verbose=False)
    metrics = result["metrics"]
    return {"temperature": calibration["temperature"], "accuracy": metrics["accuracy"],
            "ece_before": metrics.get("expected_calibration_error_uncalibrated",
                                      metrics["expected_calibration_error"]),
            "ece_after": metrics["expected_calibration_error"],
            "noise": result["calibration_noise"], "examples": len(result["y_pred"])}


def calibration_line(calibration):
    """Test ECE before -> after, and what a perfectly calibrated model would show there."""
    noise = calibration["noise"]
    return (f"{calibration['ece_before']:.4f} -> {calibration['ece_after']:.4f} (temperature "
            f"{calibration['temperature']:.3f}; a perfectly calibrated model shows "
            f"{noise['low']:.4f}-{noise['high']:.4f} on these {calibration['examples']} examples)")


# ---- artifacts and how each is called ---------------------------------------------------------

def folder_size(path):
    path = pathlib.Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


def write_artifacts(model, kind, train, folder, args):
    """``{approach: path}``: the Keras file, the SavedModel folder and each TFLite file."""
    paths = {"keras": os.path.join(folder, "model.keras")}
    model.save(paths["keras"])
    paths["saved model"] = export(model, os.path.join(folder, "saved_model", "1"), model_card=False)
    for name, quantization in QUANTIZATIONS.items():
        started = time.perf_counter()
        paths[name] = export_tflite(
            model, os.path.join(folder, name.replace(" ", "_") + ".tflite"), quantization=quantization,
            representative_data=train, input_size=(28, 28) if kind == "image" else None,
            calibration_examples=args.calibration_examples)
        print(f"  {kind} {name}: converted in {time.perf_counter() - started:.0f} s", flush=True)
    return paths


def png_bytes(images):
    encoded = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(np.asarray(image, "uint8")).convert("RGB").save(buffer, "PNG")
        encoded.append(buffer.getvalue())
    return np.asarray(encoded, dtype=object)


def callers(model, kind, paths):
    """``{approach: (prepare(raw batch) -> input, call(input) -> outputs)}``: ``prepare`` runs
    outside the timings (a client's decoding of files, or tokenization for token-id TFLite
    files, timed on its own row); the SavedModel's input is encoded PNG bytes / strings."""
    keras_call = tf.function(lambda x: model(model.prepare(x)[0], training=False), reduce_retracing=True)
    raw = ((lambda x: tf.constant(np.asarray(x, "uint8"))) if kind == "image"
           else (lambda x: tf.constant(list(x))))
    served = tf.saved_model.load(paths["saved model"]).signatures["serving_default"]
    name = "images" if kind == "image" else "texts"
    encode = png_bytes if kind == "image" else (lambda x: list(x))
    approaches = {"keras": (raw, keras_call),
                  "saved model": (lambda x: tf.constant(encode(x)), lambda x: served(**{name: x}))}
    for approach in QUANTIZATIONS:
        runner = load_tflite(paths[approach])
        specs = input_specs(runner)
        approaches[approach] = (lambda x, specs=specs: tflite_inputs(model, x, specs),
                                lambda x, runner=runner: run_tflite(runner, x))
    return approaches


def time_approaches(approaches, examples, batch_size, calls, rounds):
    """Seconds per call of each approach on batches of ``batch_size`` from ``examples``; the
    approaches alternate (rotating order) over ``rounds`` rounds of ``calls / rounds`` calls."""
    rng = np.random.default_rng(0)
    batches = [examples[rng.choice(len(examples), batch_size, replace=len(examples) < batch_size)]
               for _ in range(4)]
    prepared = {name: [prepare(b) for b in batches] for name, (prepare, _) in approaches.items()}
    names, seconds = list(approaches), {name: [] for name in approaches}
    for name in names:  # warm up: traces, allocations, delegate set-up
        for batch in prepared[name][:2]:
            approaches[name][1](batch)
    for round_index in range(rounds):
        for name in names[round_index % len(names):] + names[:round_index % len(names)]:
            call = approaches[name][1]
            for index in range(max(1, calls // rounds)):
                batch = prepared[name][index % len(batches)]
                started = time.perf_counter()
                call(batch)
                seconds[name].append(time.perf_counter() - started)
    return seconds


def tokenization_seconds(model, texts, specs, calls):
    """Seconds per batch-1 call of what a token-id TFLite client runs first (eager)."""
    timings = []
    for index in range(calls):
        started = time.perf_counter()
        tflite_inputs(model, texts[index % len(texts):][:1], specs)
        timings.append(time.perf_counter() - started)
    return timings


# ---- accuracy of every artifact ------------------------------------------------------------

def saved_model_accuracy(model, kind, path, inputs, labels):
    served = tf.saved_model.load(path).signatures["serving_default"]
    encode = png_bytes if kind == "image" else (lambda x: list(x))
    names, name = np.asarray(model.label_names), "images" if kind == "image" else "texts"
    predicted = []
    for start in range(0, len(inputs), 32):
        labels_out = served(**{name: tf.constant(encode(inputs[start:start + 32]))})["label"]
        predicted += [label.decode() for label in labels_out.numpy()]
    return float((np.asarray(predicted) == names[np.asarray(labels)]).mean())


def accuracies(model, kind, paths, test, inputs, labels, keras_accuracy):
    result = {"keras": keras_accuracy,
              "saved model": saved_model_accuracy(model, kind, paths["saved model"], inputs, labels)}
    for name in QUANTIZATIONS:
        result[name] = check_tflite(model, paths[name], test, verbose=True)["tflite"]
    return result


# ---- report ----------------------------------------------------------------------------------

def measure(kind, model, train, validation, calibration_data, test, inputs, labels, args):
    started = time.perf_counter()
    calibration = train_and_calibrate(model, train, validation, calibration_data, test, args)
    print(f"  {kind}: trained and calibrated in {time.perf_counter() - started:.0f} s "
          f"(temperature {calibration['temperature']:.3f})", flush=True)
    with tempfile.TemporaryDirectory(prefix=f"export_latency_{kind}_") as folder:
        paths = write_artifacts(model, kind, train, folder, args)
        approaches = callers(model, kind, paths)
        latency = time_approaches(approaches, inputs, 1, args.calls, args.rounds)
        throughput = time_approaches(approaches, inputs, 32, args.batches, args.rounds)
        extra = {}
        if kind == "text":
            specs = input_specs(load_tflite(paths["tflite float32"]))
            extra["tokenization outside"] = tokenization_seconds(model, inputs, specs, min(args.calls, 50))
        accuracy = accuracies(model, kind, paths, test, inputs, labels, calibration["accuracy"])
        sizes = {name: folder_size(path) for name, path in paths.items()}
    return {"calibration": calibration, "latency": latency, "throughput": throughput,
            "accuracy": accuracy, "sizes": sizes, "extra": extra}


def print_table(kind, figures):
    print(f"\n{kind} | artifact | batch-1 latency ms, median (p10-p90) | batch-32 examples/s | "
          "size MB | test accuracy |")
    for name in figures["latency"]:
        ms = 1000 * np.asarray(figures["latency"][name])
        rate = 32 / np.median(figures["throughput"][name])
        print(f"{kind} | {name} | {np.median(ms):.2f} ({np.percentile(ms, 10):.2f}-"
              f"{np.percentile(ms, 90):.2f}) | {rate:.1f} | {figures['sizes'][name] / 1e6:.2f} | "
              f"{figures['accuracy'][name]:.4f} |")
    for name, seconds in figures["extra"].items():
        ms = 1000 * np.asarray(seconds)
        print(f"{kind} | {name} (model.preprocessor, eager, batch 1) | {np.median(ms):.2f} "
              f"({np.percentile(ms, 10):.2f}-{np.percentile(ms, 90):.2f}) | - | - | - |")
    ratios = {name: np.median(figures["latency"][name]) / np.median(figures["latency"]["keras"])
              for name in figures["latency"]}
    print(f"{kind} latency / Keras: " + ", ".join(f"{name} {ratio:.2f}x" for name, ratio in ratios.items()))


def goal(text, value, held):
    print(f"goal: {text}: {value} -> {'held' if held else 'NOT held'}")


def print_goals(figures):
    for kind, data in figures.items():
        median = {name: float(np.median(seconds)) for name, seconds in data["latency"].items()}
        ratio = median["saved model"] / median["keras"]
        goal(f"{kind} SavedModel latency / Keras <= 1.1x", f"{ratio:.2f}x", ratio <= 1.1)
        calibration = data["calibration"]
        goal(f"{kind} expected calibration error lower after calibration (test split)",
             calibration_line(calibration), calibration["ece_after"] < calibration["ece_before"])
    image = figures.get("image")
    if image:
        speed = float(np.median(image["latency"]["keras"]) / np.median(image["latency"]["tflite int8"]))
        goal("image int8 TFLite speed-up vs Keras at batch 1 >= 2x", f"{speed:.2f}x", speed >= 2)
        share = image["sizes"]["tflite int8"] / image["sizes"]["keras"]
        goal("image int8 TFLite size / Keras file <= 0.25", f"{share:.3f}", share <= 0.25)
        lost = 100 * (image["accuracy"]["keras"] - image["accuracy"]["tflite int8"])
        goal("image int8 TFLite accuracy lost <= 1 point", f"{lost:+.2f} points", lost <= 1.0)


def int8_accuracy_over_seeds(args):
    """The full-integer int8 image model's accuracy change over ``args.int8_seeds`` (each seed
    draws its own training images, trains the head and calibrates int8 on its own
    training examples), each on the whole test set: the goal is judged on the mean."""
    changes = []
    for seed in args.int8_seeds:
        run = argparse.Namespace(**{**vars(args), "seed": seed})
        model, train, validation, _, test, _, _ = image_model(run)
        keras.utils.set_random_seed(seed)
        with tempfile.TemporaryDirectory() as folder:
            tl_suite.fit(model, train, validation, epochs=args.epochs, log_dir=folder, verbose=0,
                         early_stopping_patience=3, seed=seed)
            path = export_tflite(model, os.path.join(folder, "int8.tflite"), quantization="int8",
                                 representative_data=train, input_size=(28, 28),
                                 calibration_examples=args.calibration_examples)
            result = check_tflite(model, path, test, verbose=False)
        changes.append(100 * result["change"])
        print(f"  seed {seed}: Keras {result['keras']:.4f}, int8 {result['tflite']:.4f} "
              f"({changes[-1]:+.2f} points, same label on {result['agreement']:.1%})", flush=True)
    lost = -float(np.mean(changes))
    goal(f"image int8 TFLite accuracy lost <= 1 point, mean of {len(changes)} seeds",
         f"{lost:+.2f} points (spread {max(changes) - min(changes):.2f})", lost <= 1.0)


def calibration_over_seeds(args):
    """Each model's test calibration error before / after `calibrate` over
    ``args.calibration_seeds`` (each seed its own split, training run and temperature), beside
    the range a perfectly calibrated model would show on the same number of test examples."""
    for kind in args.models:
        before, after = [], []
        for seed in args.calibration_seeds:
            run = argparse.Namespace(**{**vars(args), "seed": seed})
            model, train, validation, calibration_data, test, _, _ = (
                image_model if kind == "image" else text_model)(run)
            calibration = train_and_calibrate(model, train, validation, calibration_data, test, run)
            before.append(calibration["ece_before"])
            after.append(calibration["ece_after"])
            print(f"  {kind} seed {seed}: {calibration_line(calibration)}", flush=True)
        goal(f"{kind} expected calibration error lower after calibration, mean of {len(before)} seeds",
             f"{np.mean(before):.4f} -> {np.mean(after):.4f}", np.mean(after) < np.mean(before))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--test-size", type=int, help="Fashion-MNIST test images (default: all)")
    parser.add_argument("--max-examples", type=int, help="BBC News: seeded subset of the articles")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--calibration-examples", type=int, default=200,
                        help="training examples that calibrate the full-integer int8 file")
    parser.add_argument("--calibration-size", type=int, default=5000,
                        help="Fashion-MNIST training images (not trained on) that calibrate "
                             "the temperature (1,000 left it too sharp on one seed of three)")
    parser.add_argument("--models", nargs="*", choices=["image", "text"], default=["image", "text"])
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--quick", action="store_true", help="small data and few calls")
    parser.add_argument("--int8-seeds", type=int, nargs="+",
                        help="only the int8 image model's accuracy change, over these seeds")
    parser.add_argument("--calibration-seeds", type=int, nargs="+",
                        help="only the calibration error before / after, over these seeds")
    args = parser.parse_args()
    if args.quick:
        args.train_size, args.test_size, args.max_examples, args.epochs = 200, 100, 150, 3
        args.calibration_size = 100
        args.calls, args.batches, args.rounds, args.calibration_examples = 20, 4, 2, 32
    print(f"{os.cpu_count()} CPU cores; TensorFlow {tf.__version__}, Keras {keras.__version__}")
    if args.int8_seeds:
        return int8_accuracy_over_seeds(args)
    if args.calibration_seeds:
        return calibration_over_seeds(args)
    figures = {}
    for kind in args.models:
        model, *data = (image_model if kind == "image" else text_model)(args)
        figures[kind] = measure(kind, model, *data, args)
        print_table(kind, figures[kind])
    print()
    print_goals(figures)


if __name__ == "__main__":
    main()
