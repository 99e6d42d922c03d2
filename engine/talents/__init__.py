"""People: addresses, CSV import, edits, stage moves, the timeline, privacy."""

__all__ = [
    "addresses",
    "csv_import",
    "edits",
    "moves",
    "privacy",
    "timeline",
]
