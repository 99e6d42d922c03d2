from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from engine.db import Database
from engine.models import Talent


def test_migrations_create_talent_base_and_round_trip_aware_datetimes(db: Database) -> None:
    at = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    with db.session() as session:
        session.add(Talent(email="ada@example.com", created_at=at, updated_at=at))
    with db.session() as session:
        talent = session.scalars(select(Talent)).one()
    assert talent.created_at == at
    assert talent.created_at.tzinfo is not None
    assert talent.stage == "person"


def test_upgrade_is_idempotent(db_url: str) -> None:
    Database(db_url).dispose()
    Database(db_url).dispose()  # a second upgrade finds the schema current


def test_immediate_session_commits(db: Database) -> None:
    at = datetime(2026, 3, 2, tzinfo=UTC)
    with db.session(immediate=True) as session:
        session.add(Talent(email="x@example.com", created_at=at, updated_at=at))
    with db.session() as session:
        assert session.scalar(select(Talent.email)) == "x@example.com"
