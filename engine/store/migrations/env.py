"""Alembic environment: runs on the connection that ``engine.store.database.upgrade`` hands over."""

from __future__ import annotations

from alembic import context

import engine.store.models  # noqa: F401  (register the tables on the metadata)
from engine.store import dialect
from engine.store.database import Base

connection = context.config.attributes.get("connection")
if connection is None:
    url = context.config.get_main_option("sqlalchemy.url") or ""
    connection = dialect.create(url).connect()

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=dialect.render_as_batch(connection),
)
with context.begin_transaction():
    context.run_migrations()
