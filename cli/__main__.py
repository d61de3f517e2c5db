"""``python -m cli``: the same as the ``modelwatch`` command."""

from cli.main import run

run()
