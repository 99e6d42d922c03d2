"""People: addresses, CSV import, edits, stage moves, the timeline, privacy.

Its surface is its modules, imported by their path: nothing is imported here, so a
command loads only the rooms it uses and ``nurture --help`` stays fast.
"""

__all__ = [
    "addresses",
    "csv_import",
    "edits",
    "moves",
    "privacy",
    "timeline",
]
