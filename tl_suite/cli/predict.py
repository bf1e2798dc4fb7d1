"""``tl-suite predict MODEL INPUT...``: labels and probabilities, one line per input
(`tl_suite.predict`), to stdout or ``--output``."""

import os
import sys

import tl_suite
from tl_suite.cli import options
from tl_suite.cli.data import load_model, model_kind
from tl_suite.cli.inputs import read_inputs
from tl_suite.cli.rows import FORMATS, output_format, write_rows

HELP = "predict labels and probabilities for image files, text files or a CSV/JSONL column"

EPILOG = """\
inputs, by model:
  image models       image files, or folders (every image file under them)
  text models        a .csv/.jsonl file (its --text-column), .txt files (one text each),
                     folders of .txt files, or - (one text per line of stdin)
  token classifiers  a .csv/.jsonl column, .conll files (first column = word), other text
                     files or - (one sentence per line)

columns (one row per input; CSV joins lists with |):
  classification     input, label, probability, top_labels, top_probabilities
  multi-label        input, labels (probability >= --threshold), probabilities.<label>
  regression         input, <output name> (or value)
  token              input, words, tags

examples (offline):
  tl-suite predict photos.keras new_photos/ cat.jpg
  tl-suite predict reviews.keras unlabelled.csv --text-column review --output predictions.csv
  echo "Apple opened a store in London" | tl-suite predict tagger.keras - --format jsonl"""


def add_parser(subparsers, formatter_class):
    parser = options.add_command(subparsers, "predict", HELP, formatter_class, EPILOG)
    options.add_model_argument(parser)
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="files, folders, a .csv/.jsonl file or - (stdin); see below")
    options.add_text_columns(parser, label_column=False)
    parser.add_argument("--top-k", type=options.positive_integer, default=3, metavar="K",
                        help="classification: the K most likely labels in top_labels (default: 3)")
    parser.add_argument("--threshold", type=options.probability, default=0.5, metavar="P",
                        help="multi-label: labels whose probability is at least P (default: 0.5)")
    options.add_batch_size(parser)
    parser.add_argument("--output", default=None, metavar="FILE",
                        help="write the rows to FILE (.csv or .jsonl) instead of stdout "
                             "(default: stdout)")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="csv (a header line, then one line per input) or jsonl (one JSON "
                             "object per input) (default: jsonl for an --output ending in "
                             ".jsonl, else csv)")
    parser.set_defaults(run=run)


def run(args):
    """Load the model, read the inputs its kind takes, predict, write one row per input."""
    model = load_model(args.model)
    inputs, names = read_inputs(model_kind(model), args.inputs, text_column=args.text_column)
    rows = tl_suite.predict(model, inputs, top_k=args.top_k, threshold=args.threshold,
                            batch_size=args.batch_size)
    rows = [{"input": name, **{k: v for k, v in row.items() if k != "input"}}
            for name, row in zip(names, rows)]
    format = output_format(args.output, args.format)
    if args.output is None:
        write_rows(rows, sys.stdout, format)
        return
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", newline="", encoding="utf-8") as file:
        write_rows(rows, file, format)
    print(f"Wrote {len(rows)} predictions to {args.output}", file=sys.stderr)
