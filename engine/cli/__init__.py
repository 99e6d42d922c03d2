"""The ``nurture`` command line: one module per noun, registered in :mod:`engine.cli.app`."""

from engine.cli.app import main

__all__ = ["main"]
