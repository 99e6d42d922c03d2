"""Reports: the funnel per step and variant, the campaigns overview (CLI and desk alike)."""

__all__ = [
    "campaigns",
    "funnel",
]
