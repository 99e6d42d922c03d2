"""``python -m engine.cli``: the ``nurture`` command."""

import sys

from engine.cli.app import main

sys.exit(main())
