"""The database: engine and sessions (``database``), every SQLite/PostgreSQL difference
(``dialect``), the models, the frozen rows read at its boundary (``rows``), the Alembic
migrations."""

__all__ = [
    "database",
    "dialect",
    "models",
    "rows",
]
