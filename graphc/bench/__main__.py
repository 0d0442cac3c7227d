"""``python -m graphc.bench``: the same as ``graphc bench``."""

import sys

from .runner import main

sys.exit(main(prog="python -m graphc.bench"))
