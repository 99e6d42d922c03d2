"""The pure domain: the interpreter, the send calendar, stages, the clock, signed links.

No database, web, HTTP or Prefect here (``tests/unit/test_core_imports.py`` keeps it so).
"""

__all__ = [
    "calendar",
    "clock",
    "interpreter",
    "links",
    "stages",
]
