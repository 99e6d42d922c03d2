"""The run loop: the runtime loaded once per process, one tick, the Prefect flows,
worker processes, the local Prefect server.
"""

__all__ = [
    "flows",
    "prefect_server",
    "runtime",
    "tick",
    "workers",
]
