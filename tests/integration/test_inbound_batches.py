"""A batch of provider events applied in bulk (``apply_events``) leaves the database exactly
as the same events applied one by one (``apply_event``), for any batch: the bulk path's
"quiet" shortcut asks the interpreter (``moved_by``), writes ``timeline_row`` and the same
engaged move, so the two cannot drift apart unnoticed.

The world: the example workspace after one tick (one intro email each to four people), its
intro step given a ``when: clicked`` branch so that clicks take the engine's path and opens
the bulk one. Each example is applied inside a transaction rolled back afterwards.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session
from webapp_support import config, workspace

from campaigns.workspace import load_workspace
from channels.base import InboundEvent
from channels.memory import MemoryChannel
from engine.core.clock import ManualClock
from engine.inbound.batches import apply_events
from engine.inbound.events import apply_event
from engine.runs.runtime import Runtime
from engine.runs.tick import tick
from engine.store.database import Database
from engine.store.models import Engagement, Enrollment, OutboxMessage, Talent, TalentLabel, Task

PEOPLE = ("maya", "jonas", "lea", "tom")
CAMPAIGN = "backend-engineers-q1"
KINDS = ("sent", "delivered", "deferred", "opened", "clicked", "bounced", "dropped",
         "spam_report", "unsubscribed", "failed")  # fmt: skip
CLICK_BRANCH = "      - {when: clicked, set: {tags: {add: [clicked-intro]}}}\n"


@pytest.fixture
def world(tmp_path: Path, db: Database, db_url: str, clock: ManualClock) -> dict[str, str]:
    """Our message id of each person's intro email, once the first tick has sent them."""
    root = workspace(tmp_path, example=True)
    path = root / "sequences" / "backend-outbound.yaml"
    text = path.read_text(encoding="utf-8")
    anchor = "      - {after: 3 business days, goto: followup}\n"
    path.write_text(text.replace(anchor, CLICK_BRANCH + anchor, 1), encoding="utf-8")
    now = clock()
    with db.session() as session:
        for name in PEOPLE:
            person = Talent(email=f"{name}@example.net", first_name=name.title(), links={},
                            attributes={}, timezone="Europe/Berlin", created_at=now,
                            updated_at=now)  # fmt: skip
            person.labels += [TalentLabel(kind="tag", value="backend"),
                              TalentLabel(kind="skill", value="python")]  # fmt: skip
            session.add(person)
    cfg = config(root, db_url)
    rt = Runtime.load(cfg, load_workspace(cfg.workspace))
    channel = MemoryChannel()
    asyncio.run(tick(db, rt, {"email": channel, "sms": channel}, CAMPAIGN, clock=clock))  # type: ignore[arg-type]
    sent = {m.to.split("@")[0]: m.message_id for m in channel.sent}
    assert sorted(sent) == sorted(PEOPLE)
    return sent


def _events(sent: dict[str, str], clock: ManualClock) -> st.SearchStrategy[list[InboundEvent]]:
    """Batches of events about the four intros: by our id, the provider's, or the address
    only; event ids drawn from a small pool, so replays inside a batch happen."""

    @st.composite
    def event(draw: st.DrawFn) -> InboundEvent:
        name, kind = draw(st.sampled_from(PEOPLE)), draw(st.sampled_from(KINDS))
        by = draw(st.sampled_from(("ours", "ours", "ours", "address")))
        return InboundEvent(
            kind=kind, provider="sendgrid",
            provider_event_id=f"ev-{draw(st.integers(0, 40))}",
            occurred_at=clock() + timedelta(minutes=draw(st.integers(0, 60))),
            channel="email", message_id=sent[name] if by == "ours" else None,
            address=f"{name}@example.net",
            bounce_type=draw(st.sampled_from(("hard", "soft"))) if kind == "bounced" else None,
            url="https://acme.example/job" if kind == "clicked" else None,
        )  # fmt: skip

    return st.lists(event(), min_size=1, max_size=25)


def _snapshot(session: Session) -> dict[str, Any]:
    """Everything an event can change, without row ids (the two paths write in other
    orders)."""
    names = {t.id: t.email for t in session.scalars(select(Talent))}
    rows = session.scalars(select(Engagement).where(Engagement.kind != "planned"))
    return {
        "timeline": sorted(
            (names.get(r.talent_id), r.kind, r.provider_event_id, r.occurred_at.isoformat(),
             r.channel, r.campaign, r.step_id, r.variant, r.message_id, r.detail,
             json.dumps(r.data, sort_keys=True)) for r in rows
        ),
        "talents": sorted(
            (t.email, t.stage, t.email_opted_out_at is not None, tuple(sorted(t.tags)))
            for t in session.scalars(select(Talent))
        ),
        "enrollments": sorted(
            (names[e.talent_id], e.status, e.step_id, e.outcome, str(e.due_at))
            for e in session.scalars(select(Enrollment))
        ),
        "outbox": sorted(
            (m.message_id, m.step_id, m.status, m.error) for m in session.scalars(
                select(OutboxMessage))
        ),
        "tasks": sorted((names[t.talent_id], t.title) for t in session.scalars(select(Task))),
    }  # fmt: skip


def _applied(db: Database, apply: Callable[[Session], object]) -> dict[str, Any]:
    """The snapshot after ``apply``, in a transaction then rolled back."""
    with db.sessions() as session:
        try:
            apply(session)
            session.flush()
            return _snapshot(session)
        finally:
            session.rollback()


def test_a_batch_in_bulk_equals_its_events_one_by_one(
    world: dict[str, str], db: Database, clock: ManualClock
) -> None:
    now = clock() + timedelta(hours=1)

    @settings(max_examples=40, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
    @given(_events(world, clock))
    def agree(events: list[InboundEvent]) -> None:
        def one_by_one(session: Session) -> None:
            for event in events:
                apply_event(session, event, now=now)

        bulk = _applied(db, lambda session: apply_events(session, events, now=now))
        assert bulk == _applied(db, one_by_one)

    agree()
