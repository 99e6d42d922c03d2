"""Claim, send and record: dispatch and receipts, sending limits, channel objects."""

__all__ = [
    "adapters",
    "dispatch",
    "limits",
]
