"""``nurture demo``: a simulated campaign over weeks, with a fake provider.

Its surface is its modules, imported by their path: nothing is imported here, so a
command loads only the rooms it uses and ``nurture --help`` stays fast.
"""

__all__ = [
    "simulation",
]
