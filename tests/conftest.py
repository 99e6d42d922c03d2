"""Shared fixtures.

``db`` runs a test on SQLite, and again on PostgreSQL when NURTURE_TEST_DATABASE_URL is set
(each PostgreSQL test gets its own schema, dropped afterwards).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import create_engine, text

from engine.core.clock import ManualClock
from engine.store.database import Database

# CI replays the same examples every run (HYPOTHESIS_PROFILE=ci); locally they vary.
settings.register_profile("ci", derandomize=True, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

PG_URL = os.environ.get("NURTURE_TEST_DATABASE_URL")
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]
REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


def _pg_database(schema: str) -> Database:
    assert PG_URL is not None
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return Database(PG_URL, connect_args={"options": f"-csearch_path={schema}"})


def _pg_drop(schema: str) -> None:
    assert PG_URL is not None
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL per test: a SQLite file, or a PostgreSQL schema.

    For PostgreSQL the schema is selected through the URL's ``options`` query parameter,
    so subprocesses given this URL land in the same schema.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'nurture.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    _pg_database(schema).dispose()
    separator = "&" if "?" in PG_URL else "?"  # type: ignore[operator]
    yield f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    _pg_drop(schema)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """A migrated database on each configured backend."""
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def clock() -> ManualClock:
    """A clock frozen at Monday 2026-03-02 08:00 UTC, advanced by hand."""
    return ManualClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (marked ``pytest.mark.anyio``) run on asyncio."""
    return "asyncio"
