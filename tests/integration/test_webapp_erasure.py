"""Erasure holds through the ASGI app: what arrives after ``forget`` keeps nothing personal,
and one unsubscribe link posted many times at once writes one row, on each database."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import String, Text, select
from webapp_support import (
    INBOUND_SECRET,
    add_talent,
    client,
    config,
    counts,
    engagements,
    inbound_files,
    sg_event,
    signed_batch,
    sms,
    twilio_post,
    workspace,
)

from engine.core.clock import ManualClock
from engine.core.links import unsubscribe_token
from engine.store.database import Base, Database
from engine.talents.addresses import address_hash
from engine.talents.privacy import forget

pytestmark = pytest.mark.anyio
KEY = b"unsubscribe-signing-key-for-tests"
EMAIL, PHONE = "maya.keller@example.net", "+4915112340000"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return workspace(tmp_path)


def _strings(db: Database) -> str:
    """Every text and JSON value of every table, as one string to search."""
    found: list[str] = []
    with db.session() as session:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | Text)]
            columns += [c for c in table.columns if c.name in ("data", "attributes", "links")]
            for row in session.execute(select(*columns)) if columns else []:
                found.extend(str(value) for value in row if value)
    return "\n".join(found)


async def test_events_and_replies_after_forget_keep_only_a_hash(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    add_talent(db, clock(), email=EMAIL, phone=PHONE, first_name="Maya")
    with db.session() as session:
        forget(session, EMAIL, now=clock())
    reply = inbound_files(sender=f"Maya Keller <{EMAIL}>", text="Yes, interested! Maya")
    bounce = sg_event("bounce", "late-bounce", clock(), email=EMAIL.upper(), reason=f"{EMAIL} full")
    text = {**sms("SM-late", "Yes please, call me at 0151 1234"), "From": PHONE}
    async with client(config(root, db_url), db, clock) as http:
        replied = await http.post(f"/webhooks/sendgrid/inbound/{INBOUND_SECRET}", files=reply)
        again = await http.post(f"/webhooks/sendgrid/inbound/{INBOUND_SECRET}", files=reply)
        batch = await http.post("/webhooks/sendgrid/events", content=(b := signed_batch(
            [bounce], clock()))[0], headers=b[1])  # fmt: skip
        texted = await http.post("/webhooks/twilio/messages", **twilio_post(
            "/webhooks/twilio/messages", text))  # fmt: skip
    assert [r.status_code for r in (replied, again, batch, texted)] == [200] * 4
    assert replied.json()["intent"] is None and again.json()["duplicate"] is True
    stored = _strings(db)
    for personal in (EMAIL, "maya", "Keller", "0151", "interested", "mail.example.net"):
        assert personal.lower() not in stored.lower(), personal
    late = [e for e in engagements(db) if e.kind != "erased"]
    assert sorted(e.kind for e in late) == ["bounced", "replied", "replied"]
    assert {e.data.get("address") for e in late} == {
        f"sha256:{address_hash(EMAIL)}",
        f"sha256:{address_hash(PHONE)}",
    }
    assert counts(db)["tasks"] == 0


async def test_one_link_posted_twenty_times_at_once_opts_out_once(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    maya = add_talent(db, clock(), email=EMAIL)
    ticks = itertools.count()

    def ticking() -> datetime:  # each request its own instant, as in production
        return clock() + timedelta(milliseconds=next(ticks))

    url = f"/unsubscribe/{unsubscribe_token(KEY, maya, 'email')}"
    async with client(config(root, db_url), db, ticking) as http:
        responses = await asyncio.gather(*(http.post(url) for _ in range(20)))
    assert [r.status_code for r in responses] == [200] * 20
    assert [e.kind for e in engagements(db, talent_id=maya)] == ["unsubscribed"]
