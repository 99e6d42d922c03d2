"""Reports: the funnel per step and variant."""

__all__ = [
    "funnel",
]
