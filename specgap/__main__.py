"""``python -m specgap``: the ``specgap`` command."""
import sys

from .cli import main

sys.exit(main())
