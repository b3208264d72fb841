"""End-to-end benchmark of AttentionSeq2seq: ``python bench/e2e.py [--reps R] [--out DIR]``.

The same as ``attncore bench``; see ``attncore.benchmark`` for what is measured.
"""

import sys

from attncore.benchmark import main

if __name__ == "__main__":
    sys.exit(main())
