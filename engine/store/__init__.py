"""The database: engine and sessions (``database``), the models, the Alembic migrations.

Its surface is its modules, imported by their path: nothing is imported here, so a
command loads only the rooms it uses and ``nurture --help`` stays fast.
"""

__all__ = [
    "database",
    "models",
]
