"""The database: engine and sessions (``database``), every SQLite/PostgreSQL difference
(``dialect``), the models, the Alembic migrations."""

__all__ = [
    "database",
    "dialect",
    "models",
]
