"""Run one ``tl-suite`` command; a user error is one line on stderr, not a traceback.

Exit codes: 0 done; 1 the command failed while running (a non-finite loss, a full disk, a run
locked by another process, a download without internet); 2 bad arguments or bad input (a
missing file, an unknown backbone, a column that is not there); 130 interrupted (Ctrl-C).
"""

import sys

from tl_suite.cli.parser import build_parser, print_usage_error

# What tl_suite raises for bad arguments and input (its messages name the fix).
USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError)
# What it raises when a run fails: NonFiniteLossError (a FloatingPointError), RunLockedError and
# "no internet" (RuntimeError), DiskFullError (an OSError).
RUN_ERRORS = (RuntimeError, FloatingPointError, OSError)


def main(argv=None):
    """Run ``tl-suite`` with ``argv`` (default: the process's arguments) and return the exit
    code (see the module docstring). The console script ``tl-suite`` and ``python -m
    tl_suite`` call it.

    Example:
    >>> main(["--version"])
    tl-suite ...
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:  # --help, --version, or a bad argument (printed by argparse)
        return exit.code if isinstance(exit.code, int) else 2
    if args.command is None:
        return print_usage_error(parser)
    return run_command(args)


def run_command(args):
    """``args.run(args)``, with tl_suite's user and run errors printed as one line."""
    prog = f"tl-suite {args.command}"
    try:
        return args.run(args) or 0
    except USER_ERRORS as error:
        return _fail(args, prog, error, 2)
    except RUN_ERRORS as error:
        return _fail(args, prog, error, 1)
    except KeyboardInterrupt:
        hint = getattr(args, "interrupt_hint", "")
        print(f"{prog}: interrupted{'; ' + hint if hint else ''}", file=sys.stderr)
        return 130


def _fail(args, prog, error, code):
    if args.traceback:
        raise error
    message = " ".join(str(error).split()) or type(error).__name__
    print(f"{prog}: error: {message}", file=sys.stderr)
    return code
