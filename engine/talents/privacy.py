"""GDPR: erase a person (forget) and hand over everything held on them (export).

Erasure keeps an anonymous tombstone talent (so aggregate counts stay true), clears every
timeline detail, deletes the person's rows in every other table that has a ``talent_id``
(enrollments, outbox, tasks, ...), and keeps SHA-256 hashes of the email and phone in the
suppression list so the address is never contacted, nor imported, again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.orm import Session

from channels.base import InboundEvent
from engine.store.database import Base
from engine.store.models import Engagement, Suppression, Talent, TalentLabel
from engine.talents.addresses import address_hash, find_talent, normalize_phone
from sequences.errors import InputError

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


def forget(session: Session, address: str, *, now: datetime) -> int | None:
    """Erase the talent with this email or phone; returns the tombstone's id, or None when
    the address was erased before (its stray events are cleared again, nothing else)."""
    if erased(session, address):
        _clear_unmatched(session, {_normalized(address)})
        return None
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
    _clear_unmatched(session, {a.lower() for a in (talent.email, talent.phone) if a})
    talent.labels.clear()
    for name in _PERSONAL:
        setattr(talent, name, None)
    talent.links, talent.attributes = {}, {}
    talent.stage, talent.erased_at, talent.updated_at = "do_not_contact", now, now
    session.add(
        Engagement(talent_id=talent.id, kind="erased", occurred_at=now, data={}, detail=None)
    )
    return talent.id


def erased(session: Session, address: str) -> bool:
    """Whether this email or phone belonged to a person erased by :func:`forget`."""
    try:
        key = _normalized(address)
    except InputError:
        return False
    found = select(Suppression.id).where(
        Suppression.address_hash == address_hash(key), Suppression.reason == "erased"
    )
    return session.scalar(found) is not None


def _normalized(address: str) -> str:
    address = address.strip()
    return address.lower() if "@" in address else normalize_phone(address)


def without_erased(session: Session, events: Sequence[InboundEvent]) -> list[InboundEvent]:
    """``events``, those from or about an erased address stripped of everything personal.

    What stays: the kind, the time, the channel, our message id, and the provider's event id
    as a hash (so a replay is still recognised); the address is kept as its suppression
    hash (``sha256:<hex>``), which matches no talent.
    """
    hashes = {e.address: address_hash(e.address) for e in events if e.address}
    if not hashes:
        return list(events)
    erased_hashes = set(
        session.scalars(
            select(Suppression.address_hash).where(
                Suppression.address_hash.in_(set(hashes.values())), Suppression.reason == "erased"
            )
        )
    )
    return [
        _anonymous(e, hashes[e.address]) if e.address and hashes[e.address] in erased_hashes
        else e
        for e in events
    ]  # fmt: skip


def _anonymous(event: InboundEvent, hashed: str) -> InboundEvent:
    digest = hashlib.sha256(event.provider_event_id.encode("utf-8", "surrogatepass"))
    return InboundEvent(
        kind=event.kind,
        provider=event.provider,
        provider_event_id=f"erased:{digest.hexdigest()}",
        occurred_at=event.occurred_at,
        channel=event.channel,
        message_id=event.message_id,
        address=f"sha256:{hashed}",
        bounce_type=event.bounce_type,
        reason="erased address",
    )


def _clear_unmatched(session: Session, addresses: set[str]) -> None:
    unmatched = _unmatched(session, addresses)
    if unmatched:
        session.execute(
            update(Engagement).where(Engagement.id.in_(unmatched)).values(detail=None, data={})
        )


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
