"""Claim, send and record: dispatch and receipts, sending limits, channel objects,
the outbox as listed by the CLI and the desk."""

__all__ = [
    "adapters",
    "dispatch",
    "limits",
    "listing",
]
