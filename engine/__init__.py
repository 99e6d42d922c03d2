"""The engine: owns the database, the run loop, the web app and the command line, and
wires ``sequences``, ``campaigns`` and ``channels`` together. One folder per room (see
docs/architecture.md); ``config`` reads the environment once, ``flows`` keeps the Prefect
entry point ``engine.flows:campaign_tick``.

Each room's surface (its ``__all__``) is its modules, imported by their path: nothing is
imported in the rooms' ``__init__``, so a command loads only the rooms it uses and
``nurture --help`` stays fast.
"""

__all__ = [
    "cli",
    "config",
    "core",
    "demo",
    "enrollments",
    "flows",
    "inbound",
    "outbox",
    "reports",
    "runs",
    "store",
    "talents",
    "web",
]
