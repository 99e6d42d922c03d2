"""The pure domain: the interpreter, the send calendar, stages, the clock, signed links.

No database, web, HTTP or Prefect here (``tests/unit/test_core_imports.py`` keeps it so).

Its surface is its modules, imported by their path: nothing is imported here, so a
command loads only the rooms it uses and ``nurture --help`` stays fast.
"""

__all__ = [
    "calendar",
    "clock",
    "interpreter",
    "links",
    "stages",
]
