"""``python -m cli``: the same as the ``modelwatch`` command."""

import sys

from cli.main import main

sys.exit(main())
