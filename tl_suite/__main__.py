"""``python -m tl_suite ...``: the command line (see `tl_suite.cli`)."""

import sys

from tl_suite.cli.run import main

if __name__ == "__main__":
    sys.exit(main())
