from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Table, event, select, text

import engine.store.dialect
from engine.store.database import Database
from engine.store.dialect import among, insert_rows, update_rows
from engine.store.models import Talent


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


@pytest.mark.anyio
async def test_a_transaction_waits_for_sqlites_write_lock_off_the_event_loop(
    tmp_path: Path,
) -> None:
    """The dispatcher's transactions run on the event loop; only their wait for the lock
    runs in a thread, so the sends in flight go on while another writer holds it."""
    db = Database(f"sqlite:///{tmp_path / 'nurture.db'}")
    other = db.engine.connect()
    other.info["begin"] = "BEGIN IMMEDIATE"
    other.begin()  # another writer holds the lock
    at = datetime(2026, 3, 2, tzinfo=UTC)

    async def write() -> None:
        async with db.transaction() as session:
            session.add(Talent(email="x@example.com", created_at=at, updated_at=at))

    waiting = asyncio.create_task(write())
    for _ in range(200):  # the loop keeps turning while the transaction waits
        await asyncio.sleep(0)
    assert not waiting.done()
    other.rollback()
    other.close()
    await waiting
    with db.session() as session:
        assert session.scalar(select(Talent.email)) == "x@example.com"
    db.dispose()


def test_sqlite_keeps_sqlalchemys_datetime_text_and_reads_shorter_forms(tmp_path: Path) -> None:
    """Times are compared as text in SQLite: every one must be written in the same format."""
    db = Database(f"sqlite:///{tmp_path / 'nurture.db'}")
    paris = datetime(2026, 3, 2, 10, 30, 5, tzinfo=ZoneInfo("Europe/Paris"))
    with db.session() as session:
        session.add(Talent(email="x@example.com", created_at=paris, updated_at=paris))
    with db.engine.begin() as connection:
        assert connection.scalar(text("SELECT created_at FROM talents")) == (
            "2026-03-02 09:30:05.000000"  # UTC, with microseconds, as SQLAlchemy writes it
        )
        connection.execute(text("UPDATE talents SET updated_at = '2026-03-02 09:30:00'"))
    with db.session() as session:
        talent = session.scalars(select(Talent)).one()
        assert talent.created_at == paris and talent.created_at.tzinfo == UTC
        assert talent.updated_at == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    db.dispose()


def test_insert_rows_writes_what_an_insert_would(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every column named: COPY on PostgreSQL, the driver's executemany on SQLite (as for a
    large batch); a column left out: a plain INSERT (defaults)."""
    monkeypatch.setattr(engine.store.dialect, "RAW_ROWS", 1)
    at = datetime(2026, 3, 2, 9, 30, tzinfo=ZoneInfo("Asia/Tokyo"))
    full = {"email": "ada@example.com", "phone": None, "first_name": "Ada\tLove\\lace\nTab",
            "last_name": "O'Hara", "timezone": "Asia/Tokyo", "country": "JP", "city": None,
            "company": None, "title": None, "links": {"linkedin": "https://x.example/ada"},
            "source": None, "attributes": {"years": 7, "tags": ["go", "ünïcode"]},
            "stage": "person", "stage_changed_at": None, "recontact_after": None,
            "email_consent_at": at, "email_opted_out_at": None, "sms_consent_at": None,
            "sms_opted_out_at": None, "whatsapp_consent_at": None,
            "whatsapp_opted_out_at": None, "last_contacted_at": None, "snoozed_until": None,
            "erased_at": None, "created_at": at, "updated_at": at}  # fmt: skip
    partial = {"email": "bob@example.com", "links": {}, "attributes": {},
               "created_at": at, "updated_at": at}  # fmt: skip
    table = Talent.__table__
    with db.session() as session:
        insert_rows(session, table, [full])  # type: ignore[arg-type]
        insert_rows(session, table, [partial])  # type: ignore[arg-type]
    with db.session() as session:
        ada, bob = session.scalars(select(Talent).order_by(Talent.id))
    assert (ada.first_name, ada.last_name) == ("Ada\tLove\\lace\nTab", "O'Hara")
    assert ada.links == {"linkedin": "https://x.example/ada"}
    assert ada.attributes == {"years": 7, "tags": ["go", "ünïcode"]}
    assert ada.email_consent_at == at and ada.email_consent_at.tzinfo == UTC
    assert (ada.city, ada.phone) == (None, None)
    assert (bob.stage, bob.first_name) == ("person", None)  # the model's default applied


@pytest.mark.parametrize("raw_rows", [2, 100])  # SQLite: the driver's executemany, SQLAlchemy's
def test_update_rows_writes_what_session_execute_would(
    db: Database, monkeypatch: pytest.MonkeyPatch, raw_rows: int
) -> None:
    """Each row's values through their columns' processors, keyed by any column."""
    monkeypatch.setattr(engine.store.dialect, "RAW_ROWS", raw_rows)
    at = datetime(2026, 3, 2, 9, 30, tzinfo=ZoneInfo("Asia/Tokyo"))
    with db.session() as session:
        session.add_all(
            Talent(email=f"t{i}@example.com", created_at=at, updated_at=at) for i in range(3)
        )
    talents = cast(Table, Talent.__table__)
    rows = [{"email": "t0@example.com", "stage": "prospect", "last_contacted_at": at,
             "attributes": {"k": "ünï"}, "recontact_after": at},
            {"email": "t2@example.com", "stage": "prospect", "last_contacted_at": None,
             "attributes": {}, "recontact_after": at}]  # fmt: skip
    with db.session() as session:
        update_rows(session, talents, rows, key="email")
    with db.session() as session:
        t0, t1, t2 = session.scalars(select(Talent).order_by(Talent.id))
    assert (t0.stage, t0.last_contacted_at, t0.attributes) == ("prospect", at, {"k": "ünï"})
    assert t0.last_contacted_at is not None and t0.last_contacted_at.tzinfo == UTC
    assert (t0.recontact_after, t2.recontact_after, t1.recontact_after) == (at, at, None)
    assert (t1.stage, t1.last_contacted_at) == ("person", None)
    assert (t2.stage, t2.last_contacted_at, t2.attributes) == ("prospect", None, {})
    if db.engine.dialect.name == "sqlite":  # times are compared as text: the same format
        with db.engine.connect() as connection:
            written = connection.execute(
                text(
                    "SELECT last_contacted_at, recontact_after "
                    "FROM talents WHERE email = 't0@example.com'"
                )
            )
            assert written.one() == ("2026-03-02 00:30:00.000000",) * 2


def test_among_matches_a_list_and_an_empty_one(db: Database) -> None:
    at = datetime(2026, 3, 2, tzinfo=UTC)
    with db.session() as session:
        session.add_all(
            Talent(email=f"t{i}@example.com", created_at=at, updated_at=at) for i in range(3)
        )
    with db.session() as session:
        ids = sorted(session.scalars(select(Talent.id)))
        found = session.scalars(select(Talent.email).where(among(session, Talent.id, ids[1:])))
        assert sorted(found) == ["t1@example.com", "t2@example.com"]
        assert list(session.scalars(select(Talent.id).where(among(session, Talent.id, [])))) == []


def test_a_tick_takes_due_rows_in_index_order_without_sorting(tmp_path: Path) -> None:
    """Each batch reads only its own rows: a sort would read every due row, every batch."""
    from engine.enrollments.enroll import due_enrollments
    from engine.outbox.dispatch import _due

    db = Database(f"sqlite:///{tmp_path / 'plan.db'}")
    seen: list[tuple[str, Any]] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: seen.append((a[2], a[3])))
    at = datetime(2026, 3, 2, tzinfo=UTC)
    with db.session() as session:
        due_enrollments(session, "c", now=at, limit=1000)
        _due(session, "c", at, 500)
    with db.engine.connect() as connection:
        plans = [
            " / ".join(
                row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
            )
            for sql, params in seen
            if sql.startswith("SELECT")
        ]
    db.dispose()
    assert len(plans) == 2
    assert "ix_enrollments_due_order" in plans[0] and "ix_outbox_due" in plans[1], plans
    assert not any("TEMP B-TREE" in plan for plan in plans), plans
