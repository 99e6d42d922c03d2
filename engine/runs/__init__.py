"""The run loop: the runtime loaded once per process, one tick, the Prefect flows,
worker processes, the local Prefect server.

Its surface is its modules, imported by their path: nothing is imported here, so a
command loads only the rooms it uses and ``nurture --help`` stays fast.
"""

__all__ = [
    "flows",
    "prefect_server",
    "runtime",
    "tick",
    "workers",
]
