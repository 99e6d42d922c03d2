"""The database: engine and sessions (``database``), the models, the Alembic migrations."""

__all__ = [
    "database",
    "models",
]
