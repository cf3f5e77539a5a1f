"""``python -m fastnn.cli``: the same command as ``fastnn`` and ``python -m fastnn``."""
import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
