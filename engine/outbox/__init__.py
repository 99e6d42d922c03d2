"""Claim, send and record: dispatch and receipts, sending limits, channel objects,
the outbox as listed by the CLI and the desk, in-doubt messages looked up at the provider."""

__all__ = [
    "adapters",
    "dispatch",
    "limits",
    "listing",
    "reconcile",
]
