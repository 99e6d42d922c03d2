"""``nurture demo``: a simulated campaign over weeks, with a fake provider."""

__all__ = [
    "simulation",
]
