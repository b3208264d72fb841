"""``python -m attncore.book SCRIPT [ARGS...]``: the same as ``attncore run-book``."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m attncore.book"))
