"""The database: engine creation, Alembic upgrades, sessions (dialects: ``dialect.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from engine.store import dialect
from engine.store.dialect import JSONType, UTCDateTime
from sequences.errors import InputError

MIGRATIONS = Path(__file__).parent / "migrations"


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
    }


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (run on first use by the CLI)."""
    from alembic import command  # slow to import: only when a database is opened
    from alembic.config import Config as AlembicConfig
    from alembic.util.exc import CommandError

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        try:
            command.upgrade(cfg, "head")
        except CommandError as exc:  # e.g. a worker not yet upgraded, on a newer talent base
            raise InputError(
                f"the talent base's schema is not one this nurture knows ({exc}): "
                "upgrade nurture on this machine to the version that wrote it"
            ) from None


class Database:
    """An engine plus its session factory; created once per process from the Config."""

    def __init__(self, url: str, *, migrate: bool = True, **engine_kwargs: Any) -> None:
        self.engine = dialect.create(url, **engine_kwargs)
        if migrate:
            upgrade(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self, *, immediate: bool = False) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error.

        ``immediate`` takes SQLite's write lock at BEGIN (``BEGIN IMMEDIATE``), so that a
        read-then-write transaction such as an outbox claim cannot interleave with another.
        """
        locked = dialect.write_locked(self.engine) if immediate else None
        if locked is not None:
            with (
                locked as connection,
                Session(bind=connection, expire_on_commit=False) as session,
                session.begin(),
            ):
                yield session
            return
        with self.sessions.begin() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        """:meth:`session` (``immediate``) for a coroutine whose work is short and CPU-bound.

        Waiting for a pooled connection and for SQLite's write lock happens in a thread; the
        statements then run on the event loop. A thread per transaction would make the loop
        and the thread take turns at the GIL, slowing every send the loop drives; a wait on
        the loop would stall every send in flight. (PostgreSQL row locks are still waited
        for on the loop: only other short transactions hold them.)
        """
        with self.session(immediate=True) as session:
            await asyncio.to_thread(session.connection)
            yield session

    def checkpoint(self) -> bool:
        """Empty SQLite's WAL after an erasure (see :func:`dialect.checkpoint`)."""
        return dialect.checkpoint(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()
