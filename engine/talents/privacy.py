"""GDPR: erase a person (forget) and hand over everything held on them (export).

Erasure keeps an anonymous tombstone talent (so aggregate counts stay true), clears every
timeline detail, deletes the person's rows in every other table that has a ``talent_id``
(enrollments, outbox, tasks, ...), and keeps SHA-256 hashes of the email and phone in the
suppression list so the address is never contacted, nor imported, again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.orm import Session

from engine.store.database import Base
from engine.store.models import Engagement, Suppression, Talent, TalentLabel
from engine.talents.addresses import address_hash, find_talent

_OWN_TABLES = {Talent.__tablename__, TalentLabel.__tablename__, Engagement.__tablename__}
_PERSONAL = (
    *("email", "phone", "first_name", "last_name", "timezone", "country", "city"),
    *("company", "title", "source", "recontact_after", "snoozed_until"),
)


def _talent_tables() -> list[Table]:
    """Other tables holding rows about one talent, children before parents."""
    return [
        table
        for table in reversed(Base.metadata.sorted_tables)
        if "talent_id" in table.c and table.name not in _OWN_TABLES
    ]


def forget(session: Session, address: str, *, now: datetime) -> int:
    """Erase the talent with this email or phone; returns the tombstone's id."""
    talent = find_talent(session, address)
    for kind, value in (("email", talent.email), ("phone", talent.phone)):
        if value and not session.scalar(
            select(Suppression.id).where(Suppression.address_hash == address_hash(value))
        ):
            session.execute(
                insert(Suppression).values(
                    address_hash=address_hash(value), kind=kind, reason="erased", created_at=now
                )
            )
    for table in _talent_tables():
        session.execute(delete(table).where(table.c.talent_id == talent.id))
    session.execute(
        update(Engagement).where(Engagement.talent_id == talent.id).values(detail=None, data={})
    )
    unmatched = _unmatched(session, {a.lower() for a in (talent.email, talent.phone) if a})
    if unmatched:
        session.execute(
            update(Engagement).where(Engagement.id.in_(unmatched)).values(detail=None, data={})
        )
    talent.labels.clear()
    for name in _PERSONAL:
        setattr(talent, name, None)
    talent.links, talent.attributes = {}, {}
    talent.stage, talent.erased_at, talent.updated_at = "do_not_contact", now, now
    session.add(
        Engagement(talent_id=talent.id, kind="erased", occurred_at=now, data={}, detail=None)
    )
    return talent.id


def _unmatched(session: Session, addresses: set[str]) -> list[int]:
    """Events nobody could be matched to that name one of ``addresses`` (``data.address``)."""
    rows = session.execute(
        select(Engagement.id, Engagement.data).where(Engagement.talent_id.is_(None))
    )
    return [
        row_id
        for row_id, data in rows
        if str((data or {}).get("address") or "").strip().lower() in addresses
    ]


def export(session: Session, address: str) -> dict[str, Any]:
    """Everything held on the talent with this email or phone, as JSON-able data."""
    return export_talent(session, find_talent(session, address))


def export_talent(session: Session, talent: Talent) -> dict[str, Any]:
    """Everything held on ``talent`` (``nurture talents show`` and the desk's person page)."""
    profile = {
        column.name: _jsonable(getattr(talent, column.key)) for column in Talent.__table__.columns
    }
    timeline = session.scalars(
        select(Engagement).where(Engagement.talent_id == talent.id).order_by(Engagement.id)
    )
    data: dict[str, Any] = {
        "talent": profile,
        "tags": talent.tags,
        "skills": talent.skills,
        "timeline": [_row(e, Engagement.__table__) for e in timeline],  # type: ignore[arg-type]
    }
    for table in _talent_tables():
        rows = session.execute(select(table).where(table.c.talent_id == talent.id)).mappings()
        data[table.name] = [{k: _jsonable(v) for k, v in row.items()} for row in rows]
    return data


def _row(entity: Any, table: Table) -> dict[str, Any]:
    return {column.name: _jsonable(getattr(entity, column.key)) for column in table.columns}


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
