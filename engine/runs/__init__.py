"""The run loop: the runtime loaded once per process, one tick, the Prefect flows, a tick's
shards on the work pool, worker processes, the local Prefect server; a deployed worker's
checks (preflight), what Prefect's UI shows of a tick (observe), a campaign's pause on the
Prefect server (schedules).
"""

__all__ = [
    "flows",
    "observe",
    "prefect_server",
    "preflight",
    "runtime",
    "schedules",
    "shards",
    "tick",
    "workers",
]
