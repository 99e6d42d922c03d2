"""Reports: the funnel per step and variant.

Its surface is its modules, imported by their path: nothing is imported here, so a
command loads only the rooms it uses and ``nurture --help`` stays fast.
"""

__all__ = [
    "funnel",
]
