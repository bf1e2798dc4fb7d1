"""``tl-suite backbones``: the registered backbones (`tl_suite.list_backbones`) as a table."""

import tl_suite
from tl_suite.cli import options

HELP = "list the backbones --backbone takes"

TEXT_NOTE = ("Text models also take a keras-hub BERT preset name (downloaded) or a local "
             "keras-hub / Hugging Face BERT folder.")


def add_parser(subparsers, formatter_class):
    parser = options.add_command(subparsers, "backbones", HELP, formatter_class)
    parser.add_argument("--kind", choices=("image", "text"), default=None,
                        help="only image or only text backbones (default: both)")
    parser.add_argument("--all", action="store_true",
                        help="also list the tiny random backbones of the test suite "
                             "(default: off)")
    parser.set_defaults(run=run)


def run(args):
    """Print name, kind, whether the pretrained weights work offline, and description."""
    rows = [("name", "kind", "offline", "description")]
    for name in tl_suite.list_backbones(args.kind, include_test_only=args.all):
        spec = tl_suite.get_backbone(name)
        offline = "yes" if spec.offline_weights else ("-" if spec.test_only else "no")
        rows.append((name, spec.kind, offline, spec.description))
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])
    if args.kind in (None, "text"):
        print(f"\n{TEXT_NOTE}")
