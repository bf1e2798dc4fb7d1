"""The ``tl-suite`` argument parser: one sub-command per module of `tl_suite.cli`."""

import argparse
import sys

import tl_suite
from tl_suite.cli import backbones, evaluate, export, predict, train

COMMANDS = (train, evaluate, predict, export, backbones)

DESCRIPTION = """\
Transfer learning from the command line: train a model on an image folder, a CSV/JSONL file or a
CoNLL file, evaluate it, predict labels with probabilities, export it, list the backbones.
Run `tl-suite COMMAND --help` for the flags of each command."""

EPILOG = """\
examples (offline):
  tl-suite backbones
  tl-suite train photos/ --output photos.keras --epochs 5
  tl-suite evaluate photos.keras photos/ --validation-split 0.2
  tl-suite predict photos.keras new_photos/ --output predictions.csv
  tl-suite export photos.keras photos_saved_model/"""


class Parser(argparse.ArgumentParser):
    """An `argparse.ArgumentParser` whose errors are one line on stderr (exit code 2), with
    the help to read instead of the usage block."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples' line breaks; wider option column."""

    def __init__(self, prog):
        super().__init__(prog, max_help_position=32)


def build_parser():
    """The ``tl-suite`` parser; each sub-command sets ``args.run(args)``.

    Example:
    >>> args = build_parser().parse_args(["train", "photos/", "--epochs", "3"])
    >>> args.command, args.data, args.epochs, args.batch_size
    ('train', 'photos/', 3, 32)
    """
    parser = Parser(prog="tl-suite", description=DESCRIPTION, epilog=EPILOG,
                    formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"tl-suite {tl_suite.__version__}",
                        help="print the version and exit")
    parser.add_argument("--traceback", action="store_true",
                        help="show the full traceback of an error instead of one line "
                             "(for bug reports) (default: one line)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for command in COMMANDS:
        command.add_parser(subparsers, formatter_class=HelpFormatter)
    return parser


def print_usage_error(parser):
    """No command given: the help on stderr, exit code 2."""
    parser.print_help(sys.stderr)
    return 2
