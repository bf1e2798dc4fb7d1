"""``tl-suite evaluate MODEL DATA``: the model's report on labelled data (`tl_suite.evaluate`).

The data is read as `train` reads it, with the model's own label names (so label i of the
data is output i of the model) and image size. With ``--validation-split`` (and the same
``--seed`` as `train`) only the held-out part of that split is evaluated.
"""

import tl_suite
from tl_suite.cli import options
from tl_suite.cli.data import (
    check_kind,
    check_path,
    data_kind,
    load_model,
    model_reader_options,
    read_dataset,
)

HELP = "print a trained model's report (metrics, per-class table) on labelled data"

EPILOG = """\
examples (offline):
  tl-suite evaluate photos.keras test_photos/
  tl-suite evaluate photos.keras photos/ --validation-split 0.2 --seed 1337
  tl-suite evaluate tagger.keras test.conll --log-dir logs/ner

Reports: accuracy and a per-class table (classification), per-label F1 (multi-label), MAE, RMSE
and R2 (regression), entity-level precision/recall/F1 (token classification)."""


def add_parser(subparsers, formatter_class):
    parser = options.add_command(subparsers, "evaluate", HELP, formatter_class, EPILOG)
    options.add_model_argument(parser)
    parser.add_argument(
        "data", metavar="DATA",
        help="labelled data of the model's kind, as `tl-suite train` reads it (class "
             "folders, a .csv/.jsonl or a CoNLL file)")
    options.add_text_columns(parser)
    parser.add_argument("--validation-split", type=options.fraction, default=None,
                        metavar="FRACTION",
                        help="evaluate only the validation part of this split, as `train "
                             "--validation-split` held it out (same --seed) (default: none, "
                             "all the data)")
    parser.add_argument("--seed", type=int, default=1337,
                        help="seed of the --validation-split (default: 1337, as `train`)")
    options.add_batch_size(parser)
    parser.add_argument("--threshold", type=options.probability, default=0.5, metavar="P",
                        help="multi-label: decision threshold of each label's probability "
                             "(default: 0.5)")
    parser.add_argument("--log-dir", default=None, metavar="DIR",
                        help="also write the metrics and the figure (confusion matrix, "
                             "per-type table or scatter plot) to TensorBoard under DIR/evaluation "
                             "(default: none)")
    options.add_quiet(parser)
    parser.set_defaults(run=run)


def run(args):
    """Load the model, read the data as it needs, evaluate, print the report."""
    check_path(args.data, "data")
    model = load_model(args.model)
    kind = data_kind(args.data)
    check_kind(model, kind, args.data)
    split = dict(validation_split=args.validation_split, seed=args.seed, shuffle=False,
                 subset="validation" if args.validation_split else None,
                 batch_size=args.batch_size, verbose=not args.quiet)
    reader = model_reader_options(model, kind, args.text_column, args.label_column)
    dataset = read_dataset(kind, args.data, split, **reader)
    result = tl_suite.evaluate(model, dataset, log_dir=args.log_dir, threshold=args.threshold,
                               verbose=not args.quiet)
    print(f"{model.task} model {args.model} on {dataset.num_examples} examples of {args.data}"
          + (f" (validation split {args.validation_split}, seed {args.seed})"
             if args.validation_split else "") + ":")
    print(result["report"])
    if args.log_dir:
        print(f"TensorBoard: {args.log_dir}/evaluation")
