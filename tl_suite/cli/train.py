"""``tl-suite train DATA``: data -> a trained model (``.keras``) with TensorBoard logs.

The steps of `tl_suite`'s Python quick starts: read the data (`image_dataset`, `text_dataset`
or `token_dataset`, split for validation), build the model its kind needs
(`build_image_classifier`, `build_text_classifier`, `build_text_regressor` or
`build_token_classifier`), `fit` it (or `fine_tune` it), `evaluate` it on the validation
split, save it.
"""

import os
import sys

import keras

import tl_suite
from tl_suite.cli import options
from tl_suite.cli.data import LABEL_MODES, check_path, data_kind, read_dataset, resolve_task

HELP = "train a model on an image folder, a CSV/JSONL file or a CoNLL file"

EPILOG = """\
data:
  photos/           a folder of class folders of images (photos/cat/1.jpg, photos/dog/...)
  articles/         a folder of class folders of .txt files
  reviews.csv       a CSV (or .jsonl) file with a text and a label column: class names
                    (classification), 'a|b' lists (--task multi_label) or numbers
                    (--task regression)
  ner.conll         a CoNLL file (.conll or .txt): a word and its tag per line, blank line
                    between sentences (token classification)

examples (offline):
  tl-suite train photos/ --output photos.keras --epochs 5
  tl-suite train reviews.csv --text-column review --label-column stars --task regression
  tl-suite train ner.conll --output tagger.keras --epochs 40

Training runs in a run folder under --log-dir (TensorBoard logs, best.keras, a CSV log and a
backup after every epoch); after an interruption, the same command continues the run."""


def add_parser(subparsers, formatter_class):
    parser = options.add_command(subparsers, "train", HELP, formatter_class, EPILOG)
    parser.add_argument(
        "data", metavar="DATA",
        help="the training data: a folder of class folders (images or .txt files), a "
             ".csv/.jsonl file or a CoNLL file")
    parser.add_argument("--output", default="model.keras", metavar="PATH",
                        help="where to save the trained model, a .keras file "
                             "(default: model.keras)")
    _add_model_flags(parser)
    _add_data_flags(parser)
    _add_training_flags(parser)
    options.add_quiet(parser)
    parser.set_defaults(run=run, interrupt_hint="the run is backed up after every epoch: run "
                                                "the same command again to continue it")


def _add_model_flags(parser):
    group = parser.add_argument_group("model")
    group.add_argument("--task", choices=options.TASKS, default=None,
                       help="what to predict; multi_label reads 'a|b' labels, regression "
                            "numbers (default: classification; token_classification for a "
                            "CoNLL file; regression for a JSONL label column of numbers)")
    group.add_argument("--backbone", default=None, metavar="NAME",
                       help="a name from `tl-suite backbones`, a keras-hub BERT preset name or a "
                            "local keras-hub / Hugging Face BERT folder (default: "
                            "efficientnet_lite0 for images, minilm_l6 for text)")
    group.add_argument("--weights", default="pretrained", metavar="WEIGHTS",
                       help="'pretrained', 'none' (random initialisation) or, for image "
                            "backbones, a local .weights.h5/.h5 file (default: pretrained)")
    group.add_argument("--image-size", type=options.image_size, default=None, metavar="SIZE",
                       help="images: resize to SIZE or HEIGHTxWIDTH pixels (default: the "
                            "backbone's input size)")
    group.add_argument("--sequence-length", type=options.positive_integer, default=128,
                       metavar="N", help="text: tokens per text (per window) (default: 128)")
    group.add_argument("--max-windows", type=options.positive_integer, default=1, metavar="N",
                       help="text classification/regression: read long texts as up to N "
                            "windows of --sequence-length tokens (default: 1, truncate)")
    group.add_argument("--dropout", type=options.dropout_rate, default=None, metavar="RATE",
                       help="dropout before the head (default: the builder's: 0.2 for images, "
                            "0.1 for text)")
    group.add_argument("--learning-rate", type=options.positive_number, default=None,
                       metavar="RATE", help="Adam learning rate of the head (default: the "
                                            "builder's: 1e-3; 1e-2 for text classifiers)")


def _add_data_flags(parser):
    group = parser.add_argument_group("data")
    options.add_text_columns(group)
    group.add_argument("--validation-split", type=options.fraction, default=0.2, metavar="FRACTION",
                       help="share of the data held out for validation (early stopping, the "
                            "report printed at the end); 0 or none: train on everything "
                            "(default: 0.2)")
    group.add_argument("--seed", type=int, default=1337,
                       help="seed of the split, the shuffling and the head's initial weights "
                            "(default: 1337)")
    options.add_batch_size(group)
    group.add_argument("--augment", action="store_true",
                       help="images: random flips, rotation, zoom, translation and contrast "
                            "on the training data (default: off)")


def _add_training_flags(parser):
    group = parser.add_argument_group("training")
    group.add_argument("--epochs", type=options.positive_integer, default=10, metavar="N",
                       help="maximum epochs with the base frozen (default: 10)")
    group.add_argument("--early-stopping-patience", type=options.integer_or_none, default=3,
                       metavar="N", help="stop after N epochs without a better validation loss "
                                         "and keep the best weights; none: never (default: 3)")
    group.add_argument("--fine-tune-epochs", type=options.non_negative_integer, default=0,
                       metavar="N",
                       help="then unfreeze the base and train N more epochs with `fine_tune` "
                            "(discriminative learning rates, one-cycle) (default: 0, base "
                            "stays frozen)")
    group.add_argument("--base-learning-rate", type=options.positive_number, default=None,
                       metavar="RATE", help="with --fine-tune-epochs: peak learning rate of the "
                                            "top base block (default: fine_tune's: 1e-4; 2e-4 "
                                            "for token classification)")
    group.add_argument("--calibrate", action="store_true",
                       help="classifiers: fit a temperature after training, so the "
                            "probabilities are calibrated (saved and exported with the model); "
                            "alternate validation batches stop training early and calibrate "
                            "(default: off)")
    group.add_argument("--log-dir", default="logs", metavar="DIR",
                       help="parent folder of the run folders with the TensorBoard logs "
                            "(default: logs)")


def run(args):
    """Read, build, train, evaluate on the validation split, save."""
    plan = _plan(args)
    keras.utils.set_random_seed(args.seed)
    train, validation = _read(args, plan)
    model = _build(args, plan, train)
    if args.calibrate and model.task == "regression":
        raise ValueError("--calibrate applies to classifiers and taggers (their probabilities); "
                         "a regressor has none. Drop --calibrate. Received: --calibrate.")
    early_stopping, calibration = (_calibration_part(validation) if args.calibrate
                                   else (validation, None))
    history = _train(args, model, train, early_stopping)
    run_dir = getattr(history, "run_dir", args.log_dir)
    if validation is not None:  # before saving: the held-out metrics go into the model's card
        if args.calibrate:
            tl_suite.calibrate(model, calibration, verbose=not args.quiet, log_dir=run_dir)
        _report(args, model, validation, run_dir)
    model.save(args.output)
    print(f"Saved the model to {args.output}; TensorBoard logs in {run_dir} "
          f"(tensorboard --logdir {args.log_dir})")


def _plan(args):
    """Everything checked before reading any data: kind, task, backbone and weights."""
    check_path(args.data, "data")
    if not args.output.endswith(".keras"):
        raise ValueError(f"--output must be a .keras file. Received: --output={args.output}.")
    if args.calibrate and not args.validation_split:
        raise ValueError("--calibrate fits the temperature on the validation split: give "
                         "--validation-split (e.g. 0.2). Received: --validation-split=none.")
    kind = data_kind(args.data)
    task = resolve_task(kind, args.task)
    backbone = args.backbone or ("efficientnet_lite0" if kind == "image" else "minilm_l6")
    spec = tl_suite.get_backbone(backbone)
    backbone_kind = "image" if kind == "image" else "text"
    if spec.kind != backbone_kind:
        raise ValueError(
            f"{backbone!r} is {'an' if spec.kind == 'image' else 'a'} {spec.kind} backbone; "
            f"{args.data} needs {'an' if kind == 'image' else 'a'} {backbone_kind} backbone "
            f"(see `tl-suite backbones`). Received: --backbone={backbone}.")
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    return dict(kind=kind, task=task, backbone=backbone, weights=_weights(args.weights, spec))


def _weights(weights, spec):
    """``--weights`` as the builders take it."""
    if weights == "none":
        return None
    if weights == "pretrained":
        if spec.test_only:
            raise ValueError(f"{spec.name!r} is a tiny random test backbone with no pretrained "
                             "weights. Use --weights none. Received: --weights=pretrained.")
        return "imagenet" if spec.kind == "image" else "pretrained"
    if spec.kind == "text":
        raise ValueError(
            "A text backbone's weights come with --backbone (a preset name or a local folder): "
            f"--weights is 'pretrained' or 'none'. Received: --weights={weights}.")
    return check_path(weights, "--weights")


def _read(args, plan):
    """``(train, validation)``; validation is None without ``--validation-split``."""
    split = dict(validation_split=args.validation_split, seed=args.seed,
                 subset="both" if args.validation_split else None,
                 batch_size=args.batch_size, verbose=not args.quiet)
    reader = dict(backbone=plan["backbone"])
    if plan["kind"] == "image":
        reader.update(image_size=args.image_size, augment=args.augment)
    else:
        reader.update(sequence_length=args.sequence_length)
    if plan["kind"] == "text":
        reader.update(text_column=args.text_column, label_column=args.label_column,
                      label_mode=LABEL_MODES[plan["task"]])
    data = read_dataset(plan["kind"], args.data, split, **reader)
    return data if args.validation_split else (data, None)


def _calibration_part(validation):
    """``(early stopping, calibration)``: alternate batches of the validation split, so the
    temperature is fitted on examples training was not stopped on (a model chosen on some data
    looks surer there than on new data; see `tl_suite.calibrate`)."""
    batches = int(validation.cardinality())
    if 0 <= batches < 2:
        raise ValueError(
            "--calibrate fits the temperature on half of the validation batches and stops "
            "training early on the other half, so the validation split needs 2 batches or "
            "more: raise --validation-split or lower --batch-size. Received: "
            f"{validation.num_examples} validation examples in {batches} batch.")
    split = tl_suite.dataset_info(validation).split or {}
    sizes = [int(keras.ops.shape(labels)[0]) for _, labels in validation]  # one pass
    parts = []
    for parity, role in ((0, "early stopping"), (1, "calibration")):
        part = validation.enumerate().filter(lambda index, _, parity=parity: index % 2 == parity)
        parts.append(tl_suite.with_info(part.map(lambda _, batch: batch), like=validation,
                                        num_examples=sum(sizes[parity::2]),
                                        split={**split, "subset": f"validation ({role})"}))
    return tuple(parts)


def _build(args, plan, train):
    """The model for ``plan``'s kind and task, with the data's label names."""
    common = dict(weights=plan["weights"], seed=args.seed)
    common.update({name: value for name, value in (("learning_rate", args.learning_rate),
                                                   ("dropout", args.dropout)) if value is not None})
    backbone, names = plan["backbone"], train.class_names
    if plan["kind"] == "image":
        return tl_suite.build_image_classifier(backbone, class_names=names,
                                               image_size=args.image_size, **common)
    common["sequence_length"] = args.sequence_length
    if plan["kind"] == "tokens":
        return tl_suite.build_token_classifier(backbone, tags=names, **common)
    label_mode = tl_suite.dataset_info(train).label_mode
    if label_mode == "float":
        return tl_suite.build_text_regressor(backbone, output_names=[args.label_column],
                                             max_windows=args.max_windows, **common)
    return tl_suite.build_text_classifier(backbone, class_names=names, max_windows=args.max_windows,
                                          multi_label=label_mode == "multi_hot", **common)


def _train(args, model, train, validation):
    # Keras' progress bar in a terminal, one line per epoch in a log file or a pipe
    verbose = 0 if args.quiet else (1 if sys.stdout.isatty() else 2)
    if args.fine_tune_epochs:
        return tl_suite.fine_tune(model, train, validation, frozen_epochs=args.epochs,
                                  epochs=args.fine_tune_epochs,
                                  base_learning_rate=args.base_learning_rate,
                                  log_dir=args.log_dir, seed=args.seed, verbose=verbose)
    return tl_suite.fit(model, train, validation, epochs=args.epochs, log_dir=args.log_dir,
                        early_stopping_patience=args.early_stopping_patience, seed=args.seed,
                        verbose=verbose)


def _report(args, model, validation, run_dir):
    result = tl_suite.evaluate(model, validation, log_dir=run_dir, verbose=not args.quiet)
    print(f"\nValidation split ({validation.num_examples} examples: --validation-split "
          f"{args.validation_split}, --seed {args.seed}):")
    print(result["report"])
