"""End to end on the example workspace: the engine sends the intro email, the person
answers, the provider posts the reply or event to the app, and the enrollment moves down
the branch the sequence wrote for it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from webapp_support import (
    INBOUND_DOMAIN,
    INBOUND_SECRET,
    client,
    config,
    engagements,
    inbound_files,
    sg_event,
    signed_batch,
    talent,
    workspace,
)

from campaigns.workspace import load_workspace
from channels.base import InboundEvent, OutboundMessage
from channels.memory import MemoryChannel
from engine.config import Config
from engine.core.clock import ManualClock
from engine.inbound.batches import apply_events
from engine.inbound.events import apply_event
from engine.runs.runtime import Runtime
from engine.runs.tick import tick
from engine.store.database import Database
from engine.store.models import Engagement, Enrollment, Talent, TalentLabel, Task

pytestmark = pytest.mark.anyio
CAMPAIGN = "backend-engineers-q1"
INBOUND_URL = f"/webhooks/sendgrid/inbound/{INBOUND_SECRET}"
PEOPLE = ("maya", "jonas", "lea", "tom")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Sent:
    """The example workspace after one tick: one intro email per person, by first name."""

    def __init__(self, cfg: Config, db: Database, clock: ManualClock) -> None:
        self.cfg, self.db, self.clock = cfg, db, clock
        self.channel = MemoryChannel()
        self.ids = {name: self._talent(name) for name in PEOPLE}

    def _talent(self, name: str) -> int:
        now = self.clock()
        with self.db.session() as session:
            person = Talent(email=f"{name}@example.net", first_name=name.title(), links={},
                            attributes={}, timezone="Europe/Berlin", created_at=now,
                            updated_at=now)  # fmt: skip
            person.labels += [TalentLabel(kind="tag", value="backend"),
                              TalentLabel(kind="skill", value="python")]  # fmt: skip
            session.add(person)
            session.flush()
            return person.id

    async def tick(self) -> None:
        rt = Runtime.load(self.cfg, load_workspace(self.cfg.workspace))
        channels = {"email": self.channel, "sms": self.channel}
        await tick(self.db, rt, channels, CAMPAIGN, clock=self.clock)  # type: ignore[arg-type]

    def intro(self, name: str) -> OutboundMessage:
        (message,) = self.channel.sent_to(f"{name}@example.net")
        return message

    def enrollment(self, name: str) -> Enrollment:
        with self.db.session() as session:
            query = select(Enrollment).where(Enrollment.talent_id == self.ids[name])
            return session.scalars(query).one()


@pytest.fixture
async def sent(tmp_path: Path, db: Database, db_url: str, clock: ManualClock) -> Sent:
    world = Sent(config(workspace(tmp_path, example=True), db_url), db, clock)
    await world.tick()  # Monday 09:00 in Berlin: inside the send window
    assert sorted(m.to for m in world.channel.sent) == sorted(f"{n}@example.net" for n in PEOPLE)
    return world


async def test_an_interested_reply_by_reply_token_books_the_call(sent: Sent) -> None:
    intro = sent.intro("maya")
    files = inbound_files(
        sender="Maya <maya@example.net>",
        to=f"reply+{intro.reply_token}@{INBOUND_DOMAIN}",
        text="Yes, happy to chat! Thursday works.\n\nOn Mon, Charlotte wrote:\n> unsubscribe",
    )
    async with client(sent.cfg, sent.db, sent.clock) as http:
        response = await http.post(INBOUND_URL, files=files)
    assert response.json()["matched_by"] == "reply_token"
    assert response.json()["intent"] == "interested"
    assert sent.enrollment("maya").step_id == "book_call"
    assert talent(sent.db, sent.ids["maya"]).stage == "candidate"
    with sent.db.session() as session:
        (task,) = session.scalars(select(Task)).all()
    assert (task.talent_id, task.campaign) == (sent.ids["maya"], CAMPAIGN)


async def test_a_not_interested_reply_found_by_in_reply_to_exits_and_snoozes(sent: Sent) -> None:
    intro = sent.intro("jonas")
    files = inbound_files(
        sender="jonas@example.net",
        to=f"charlotte@{INBOUND_DOMAIN}",  # no token: the mail client dropped Reply-To
        text="Thanks, but I'm not interested.",
        extra_headers={"In-Reply-To": intro.headers["Message-ID"]},
    )
    async with client(sent.cfg, sent.db, sent.clock) as http:
        response = await http.post(INBOUND_URL, files=files)
    assert (response.json()["matched_by"], response.json()["intent"]) == (
        "in_reply_to", "not_interested"
    )  # fmt: skip
    enrollment = sent.enrollment("jonas")
    assert (enrollment.status, enrollment.outcome) == ("exited", "not_interested")
    assert talent(sent.db, sent.ids["jonas"]).recontact_after is not None


async def test_an_out_of_office_found_by_sender_address_waits(sent: Sent) -> None:
    files = inbound_files(
        sender="lea@example.net",
        to=f"charlotte@{INBOUND_DOMAIN}",
        text="I am out of the office until next Monday.",
        extra_headers={"Auto-Submitted": "auto-replied"},
    )
    async with client(sent.cfg, sent.db, sent.clock) as http:
        response = await http.post(INBOUND_URL, files=files)
    assert (response.json()["matched_by"], response.json()["intent"]) == (
        "address", "out_of_office"
    )  # fmt: skip
    enrollment = sent.enrollment("lea")
    assert enrollment.wait_goto == "followup"  # wait: 5 business days, goto: followup
    assert enrollment.due_at is not None and enrollment.due_at > sent.clock()
    assert talent(sent.db, sent.ids["lea"]).stage != "engaged"  # an auto-reply is no engagement


async def test_sendgrid_events_carry_our_message_id_to_campaign_step_and_variant(
    sent: Sent,
) -> None:
    intro = sent.intro("tom")
    events = [sg_event(kind, f"{kind}-tom", sent.clock(), email="tom@example.net",
                       message_id=intro.message_id) for kind in ("delivered", "open")]  # fmt: skip
    body, headers = signed_batch(events, sent.clock())
    async with client(sent.cfg, sent.db, sent.clock) as http:
        response = await http.post("/webhooks/sendgrid/events", content=body, headers=headers)
    assert response.json() == {"received": 2, "stored": 2, "duplicates": 0}
    rows = engagements(sent.db, provider="sendgrid")
    assert {(r.kind, r.campaign, r.step_id, r.message_id) for r in rows} == {
        (kind, CAMPAIGN, "intro", intro.message_id) for kind in ("delivered", "opened")
    }
    assert {r.variant for r in rows} == {sent.enrollment("tom").variant}
    assert talent(sent.db, sent.ids["tom"]).stage == "engaged"


async def test_a_question_found_by_references_creates_the_answer_task(sent: Sent) -> None:
    intro = sent.intro("tom")
    references = f"<elsewhere@mail.example> {intro.headers['Message-ID']} <later@mail.example>"
    files = inbound_files(
        sender="tom@example.net",
        to=f"charlotte@{INBOUND_DOMAIN}",
        text="What's the salary range for this role?",
        extra_headers={"References": references},
    )
    async with client(sent.cfg, sent.db, sent.clock) as http:
        response = await http.post(INBOUND_URL, files=files)
    assert (response.json()["matched_by"], response.json()["intent"]) == (
        "references", "question"
    )  # fmt: skip
    assert sent.enrollment("tom").step_id == "answer"  # when: replied.question, goto: answer


def _provider_events(world: Sent) -> list[InboundEvent]:
    """A SendGrid-like batch: quiet events, first opens, a bounce, a replay inside."""
    at = world.clock()

    def event(kind: str, name: str, **extra: Any) -> InboundEvent:
        return InboundEvent(kind=kind, provider="sendgrid", provider_event_id=f"{kind}-{name}",  # type: ignore[arg-type]
                            occurred_at=at, channel="email",
                            message_id=world.intro(name).message_id, **extra)  # fmt: skip

    events = [event(kind, name) for kind in ("sent", "delivered") for name in PEOPLE]
    events += [event("opened", "maya"), event("clicked", "maya", url="https://acme.example")]
    events += [event("bounced", "tom", bounce_type="hard"), event("opened", "jonas")]
    return [*events, events[0]]


def _snapshot(world: Sent) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    names = {talent_id: name for name, talent_id in world.ids.items()}
    with world.db.session() as session:
        rows = session.scalars(select(Engagement).where(Engagement.kind.not_in(("planned",))))
        timeline = sorted((names.get(r.talent_id), r.kind, r.provider_event_id, r.campaign,
                           r.step_id, r.variant is not None, r.detail,
                           json.dumps(r.data, sort_keys=True)) for r in rows)  # fmt: skip
        people = sorted((names[t.id], t.stage, t.email_opted_out_at is not None)
                        for t in session.scalars(select(Talent)))  # fmt: skip
    return timeline, people


async def test_a_batch_in_bulk_equals_the_events_applied_one_by_one(
    sent: Sent, tmp_path: Path, clock: ManualClock
) -> None:
    other_url = f"sqlite:///{tmp_path / 'one-by-one.db'}"
    other = Sent(config(workspace(tmp_path / "b", example=True), other_url),
                 Database(other_url), clock)  # fmt: skip
    await other.tick()
    with sent.db.session() as session:
        result = apply_events(session, _provider_events(sent), now=clock())
    with other.db.session() as session:
        for event in _provider_events(other):
            apply_event(session, event, now=clock())
    assert (result.received, result.stored, result.duplicates) == (13, 12, 1)
    assert result.bulk == 9  # tom's bounce takes his other events through the engine
    assert _snapshot(sent) == _snapshot(other)
    assert talent(sent.db, sent.ids["maya"]).stage == "engaged"
    other.db.dispose()


async def test_the_one_click_link_exits_the_enrollment_from_any_step(sent: Sent) -> None:
    """An opt-out answers no message of ours, yet `stop_on: [unsubscribed]` ends the
    enrollment at once, and nothing more is planned for the person."""
    link = sent.intro("lea").unsubscribe_url
    assert link is not None
    async with client(sent.cfg, sent.db, sent.clock) as http:
        response = await http.post(link, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    enrollment = sent.enrollment("lea")
    assert (enrollment.status, enrollment.outcome) == ("exited", "unsubscribed")
    assert talent(sent.db, sent.ids["lea"]).email_opted_out_at is not None
    assert sent.enrollment("tom").status != "exited"  # nobody else is touched
    # The link names the message it came in: the report counts it against that step.
    (unsubscribed,) = engagements(sent.db, talent_id=sent.ids["lea"], kind="unsubscribed")
    intro = sent.intro("lea")
    assert (unsubscribed.message_id, unsubscribed.campaign, unsubscribed.step_id) == (
        intro.message_id, CAMPAIGN, intro.step_id
    )  # fmt: skip
