"""Whole sequences over simulated weeks: a manual clock, the in-memory channel, SQLite."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from campaigns.workspace import load_workspace
from channels.base import InboundEvent, OutboundMessage
from channels.errors import ChannelConfigError, InDoubtError, PermanentError, TransientError
from channels.memory import MemoryChannel
from engine.config import Config
from engine.core.clock import ManualClock
from engine.enrollments.progress import PlanMessages
from engine.enrollments.todos import complete_task
from engine.inbound.events import apply_event
from engine.runs.runtime import Runtime
from engine.runs.tick import TickSummary, tick
from engine.store.database import Database
from engine.store.models import Engagement, Enrollment, OutboxMessage, Talent, Task
from sequences.errors import InputError

PARIS = ZoneInfo("Europe/Paris")

SETTINGS = """\
company: {name: Acme Robotics, website: "https://acme.example"}
email_domain: acme.example
frequency_cap: {touches: 10, per: 1 days}
"""

OUTBOUND = """\
sequence: backend-outbound
settings:
  timezone: talent
  default_timezone: Europe/Paris
  send_window: {days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:30"}
  holidays: FR
  stop_on: [replied, unsubscribed, bounced]
steps:
  - id: intro
    channel: email
    subject: "{{ talent.first_name }}, a question"
    body: "Hi {{ talent.first_name }}, we build robots. {{ links.unsubscribe }}"
    variants:
      - {id: a, weight: 80}
      - {id: b, weight: 20, subject: "Quick question, {{ talent.first_name }}"}
    on:
      - {when: replied.interested, set: {stage: candidate}, goto: book_call}
      - {when: replied.not_interested, exit: not_interested}
      - {when: replied.out_of_office, wait: 5 business days, goto: followup}
      - {after: 3 business days, goto: followup}
  - id: followup
    channel: email
    thread: intro
    body: "Just following up, {{ talent.first_name }}."
    on: [{after: 4 business days, goto: nudge}]
  - id: nudge
    channel: sms
    if: talent.phone
    body: "Hi {{ talent.first_name }}, {{ sender.first_name }} here."
    on: [{after: 5 days, exit: no_response}]
  - id: book_call
    channel: email
    subject: "Let's talk"
    body: "Pick a slot."
    on: [{exit: converted}]
"""

EVENTS = """\
sequence: events
settings:
  timezone: UTC
  send_window: {days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "23:59"}
  stop_on: []
steps:
  - id: hello
    channel: email
    subject: "Hello"
    body: "Hello {{ talent.first_name }}"
    on:
      - {when: opened, exit: saw_open}
      - {when: clicked, exit: saw_click}
      - {when: delivered, exit: saw_delivery}
      - {when: bounced, exit: saw_bounce}
      - {when: failed, exit: saw_failure}
      - {when: replied.question, exit: saw_question}
      - {when: replied, exit: saw_reply}
      - {after: 2 days, exit: timeout}
"""

TASKS = """\
sequence: calls
settings:
  timezone: UTC
  send_window: {days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "23:59"}
steps:
  - id: call
    channel: task
    title: "Call {{ talent.first_name }}"
    on: [{when: completed, goto: thanks}]
  - id: thanks
    channel: email
    subject: "Thanks for the call"
    body: "Great talking to you."
    on: [{exit: done}]
"""


def campaign(name: str, sequence: str, limits: str = "") -> str:
    limits = limits or "{per_day: 1000, per_hour: 1000, per_domain_per_day: 1000}"
    return f"""\
campaign: {name}
sequence: {sequence}
sender: {{name: Charlotte Bellet, email: charlotte@acme.example, sms_from: "+4915112345678"}}
audience: {{stage: [person, prospect], tags_all: [{name}]}}
limits: {limits}
"""


class World:
    """A workspace, its database, a manual clock and the in-memory channel."""

    def __init__(self, root: Path, db: Database, clock: ManualClock, limits: str = "") -> None:
        (root / "sequences").mkdir(parents=True)
        (root / "campaigns").mkdir()
        (root / "nurture.yaml").write_text(SETTINGS)
        for name, text in {"outbound": OUTBOUND, "events": EVENTS, "calls": TASKS}.items():
            (root / "sequences" / f"{name}.yaml").write_text(text)
        for name, sequence in {"berlin": "backend-outbound", "events": "events",
                               "calls": "calls"}.items():  # fmt: skip
            (root / "campaigns" / f"{name}.yaml").write_text(campaign(name, sequence, limits))
        config = Config.load(root, env={"NURTURE_SECRET_KEY": "k" * 32})
        self.db, self.clock, self.channel = db, clock, MemoryChannel()
        self.rt = Runtime.load(config, load_workspace(root))
        self.channels: dict[str, Any] = {"email": self.channel, "sms": self.channel}

    @property
    def sends(self) -> PlanMessages:
        """What a send step does when the test acts as a recruiter: plan with the runtime."""
        return PlanMessages(self.rt)

    def talent(self, email: str, tag: str, **fields: Any) -> int:
        from engine.store.models import TalentLabel

        now = self.clock()
        with self.db.session() as session:
            name = email.split("@", maxsplit=1)[0].title()
            talent = Talent(email=email, first_name=name, created_at=now, updated_at=now, **fields)
            talent.labels.append(TalentLabel(kind="tag", value=tag))
            session.add(talent)
            session.flush()
            return talent.id

    def tick(self, name: str = "berlin") -> TickSummary:
        return asyncio.run(tick(self.db, self.rt, self.channels, name, clock=self.clock))

    def run(self, until: datetime, name: str = "berlin") -> None:
        """Tick, then jump the clock to the next due time, until ``until``."""
        while True:
            self.tick(name)
            upcoming = self.next_due()
            if upcoming is None or upcoming > until:
                self.clock.now = until
                self.tick(name)
                return
            self.clock.now = upcoming

    def next_due(self) -> datetime | None:
        now = self.clock()
        with self.db.session() as session:
            enrollments = select(func.min(Enrollment.due_at)).where(
                Enrollment.status.in_(("pending", "waiting")), Enrollment.due_at > now
            )
            outbox = select(func.min(OutboxMessage.due_at)).where(
                OutboxMessage.status == "planned", OutboxMessage.due_at > now)  # fmt: skip
            times = [session.scalar(enrollments), session.scalar(outbox)]
        return min((t for t in times if t is not None), default=None)

    def event(
        self, kind: str, message: OutboundMessage, intent: str | None = None, **extra: Any
    ) -> Any:
        event = InboundEvent(
            kind=kind,  # type: ignore[arg-type]
            provider="test",
            provider_event_id=f"{kind}-{message.message_id}",
            occurred_at=self.clock(),
            channel=message.channel,
            message_id=message.message_id,
            **extra,
        )
        with self.db.session() as session:
            return apply_event(
                session, event, now=self.clock(), intent=intent, workspace=lambda: self.rt.workspace
            )

    def sent(self, step: str | None = None) -> list[OutboundMessage]:
        return [m for m in self.channel.sent if step is None or m.step_id == step]

    def enrollment(self, talent_id: int) -> Enrollment:
        with self.db.session() as session:
            return session.scalars(
                select(Enrollment).where(Enrollment.talent_id == talent_id)
            ).one()

    def timeline(self, talent_id: int) -> list[Engagement]:
        with self.db.session() as session:
            query = (
                select(Engagement).where(Engagement.talent_id == talent_id).order_by(Engagement.id)
            )
            return list(session.scalars(query))


@pytest.fixture
def world(tmp_path: Path) -> World:
    db = Database(f"sqlite:///{tmp_path / 'nurture.db'}")
    return World(tmp_path / "ws", db, ManualClock(datetime(2026, 4, 2, 6, 0, tzinfo=UTC)))


def local(at: datetime | None, zone: str) -> datetime:
    assert at is not None
    return at.astimezone(ZoneInfo(zone))


def test_threaded_followup_waits_business_days_across_weekend_and_holiday(world: World) -> None:
    # Thursday 2 April 2026; Monday 6 April is Easter Monday, a public holiday in France.
    maya = world.talent("maya@example.net", "berlin", timezone="Europe/Paris")
    world.run(until=datetime(2026, 4, 20, 18, 0, tzinfo=UTC))
    intro, followup = world.sent("intro")[0], world.sent("followup")[0]
    assert local(world_sent_at(world, intro), "Europe/Paris") == datetime(
        2026, 4, 2, 9, 0, tzinfo=PARIS
    )
    # 3 business days after Thu 2 Apr: Fri 3, (weekend, Easter Monday skipped), Tue 7, Wed 8.
    assert local(world_sent_at(world, followup), "Europe/Paris") == datetime(
        2026, 4, 8, 9, 0, tzinfo=PARIS
    )
    assert followup.subject == f"Re: {intro.subject}"
    assert followup.headers["In-Reply-To"] == intro.headers["Message-ID"]
    assert intro.headers["Message-ID"] == f"<{intro.message_id}@acme.example>"
    assert followup.reply_token == followup.message_id
    # the SMS nudge is guarded by talent.phone: skipped, then its timeout branch exits at once
    kinds = [
        (e.kind, e.step_id, e.data.get("reason") or e.data.get("outcome"))
        for e in world.timeline(maya)
    ]
    assert ("skipped", "nudge", "guard false") in kinds
    assert ("exited", "nudge", "no_response") in kinds
    assert world.enrollment(maya).outcome == "no_response"
    assert len(world.sent()) == 2


def world_sent_at(world: World, message: OutboundMessage) -> datetime | None:
    with world.db.session() as session:
        return session.scalar(
            select(OutboxMessage.sent_at).where(OutboxMessage.message_id == message.message_id)
        )


def test_tokyo_and_new_york_both_get_the_step_at_nine_their_time(world: World) -> None:
    world.clock.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # Sunday
    tokyo = world.talent("kenji@example.jp", "berlin", timezone="Asia/Tokyo")
    new_york = world.talent("ann@example.com", "berlin", timezone="America/New_York")
    world.run(until=datetime(2026, 3, 2, 16, 0, tzinfo=UTC))
    by_talent = {m.talent_id: m for m in world.sent("intro")}
    assert local(world_sent_at(world, by_talent[tokyo]), "Asia/Tokyo").hour == 9
    assert local(world_sent_at(world, by_talent[new_york]), "America/New_York").hour == 9
    assert world_sent_at(world, by_talent[tokyo]) == datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    assert world_sent_at(world, by_talent[new_york]) == datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # Monday


@pytest.mark.parametrize(
    ("kind", "intent", "outcome"),
    [
        ("opened", None, "saw_open"),
        ("clicked", None, "saw_click"),
        ("delivered", None, "saw_delivery"),
        ("bounced", None, "saw_bounce"),
        ("replied", "question", "saw_question"),
        ("replied", "other", "saw_reply"),
        ("replied", None, "saw_reply"),
    ],
)
def test_each_event_takes_its_branch(
    world: World, kind: str, intent: str | None, outcome: str
) -> None:
    world.clock.now = START
    ann = world.talent("ann@example.com", "events")
    world.tick("events")
    (hello,) = world.sent("hello")
    world.clock.advance(hours=2)
    applied = world.event(kind, hello, intent=intent)
    assert applied.matched and not applied.duplicate
    assert world.enrollment(ann).outcome == outcome
    assert world.event(kind, hello, intent=intent).duplicate  # a replay changes nothing
    assert [e.kind for e in world.timeline(ann)].count(kind) == 1


def test_permanent_failure_takes_the_failed_branch_and_transient_ones_retry(world: World) -> None:
    world.clock.now = START
    bad = world.talent("bad@example.com", "events")
    flaky = world.talent("flaky@example.com", "events")
    world.channel.failures["bad@example.com"] = PermanentError("invalid address")
    world.channel.failures["flaky@example.com"] = TransientError("503", retry_after=120)
    summary = world.tick("events")
    assert (summary.dispatch.failed, summary.dispatch.retried) == (1, 1)
    assert world.enrollment(bad).outcome == "saw_failure"
    del world.channel.failures["flaky@example.com"]
    world.clock.advance(minutes=1)
    world.tick("events")
    assert world.sent() == []  # the backoff is not over yet
    world.clock.advance(minutes=2)
    world.tick("events")
    assert [m.to for m in world.sent()] == ["flaky@example.com"]
    assert world.enrollment(flaky).status == "waiting"


def _unanswered(world: World, *addresses: str) -> list[int]:
    """Talents of the events campaign whose first email got no answer from the provider:
    after the tick at START each message is in doubt, none retried."""
    world.clock.now = START
    talents = [world.talent(address, "events") for address in addresses]
    for address in addresses:
        world.channel.failures[address] = InDoubtError("SendGrid did not answer")
    summary = world.tick("events")
    assert (summary.dispatch.in_doubt, summary.dispatch.retried) == (len(addresses), 0)
    world.channel.failures.clear()
    return talents


def test_a_send_that_got_no_answer_is_in_doubt_never_sent_again_then_reconciled(
    world: World,
) -> None:
    """A read timeout: the provider may have the message. Retrying could send it twice."""
    (ann,) = _unanswered(world, "ann@example.com")
    world.clock.advance(hours=1)
    world.tick("events")
    assert world.sent() == []  # never sent again by the engine
    assert world.enrollment(ann).status == "waiting"  # moved on as if sent at claim time
    with world.db.session() as session:
        row = session.scalars(select(OutboxMessage)).one()
        assert (row.status, row.error) == ("in_doubt", "SendGrid did not answer")
    delivered = InboundEvent(kind="delivered", provider="sendgrid", provider_event_id="d-1",
                             occurred_at=world.clock(), channel="email",
                             message_id=row.message_id)  # fmt: skip
    with world.db.session() as session:
        assert "reconciled" in apply_event(session, delivered, now=world.clock()).effects
    kinds = [e.kind for e in world.timeline(ann)]
    assert kinds.count("in_doubt") == kinds.count("reconciled") == kinds.count("sent") == 1


def test_in_doubt_messages_settled_by_hand_go_out_again_once_or_count_as_sent(
    world: World,
) -> None:
    from engine.outbox.dispatch import settle

    ann, bob = _unanswered(world, "ann@example.com", "bob@example.com")
    claimed_at = world.clock()
    world.clock.advance(hours=2)
    with world.db.session() as session:
        ids = {r.to: r.message_id for r in session.scalars(select(OutboxMessage))}
    with world.db.session() as session:  # the provider's log: Ann's left, Bob's never did
        settle(
            session,
            [ids["ann@example.com"]],
            sent=True,
            now=world.clock(),
            sends=world.sends,
        )
        settle(
            session,
            [ids["bob@example.com"]],
            sent=False,
            now=world.clock(),
            sends=world.sends,
        )
    world.tick("events")
    world.tick("events")
    assert [m.to for m in world.sent()] == ["bob@example.com"]  # once, and not Ann's again
    with world.db.session() as session:
        rows = {r.to: r for r in session.scalars(select(OutboxMessage))}
        assert rows["ann@example.com"].status == rows["bob@example.com"].status == "sent"
        assert rows["ann@example.com"].sent_at == claimed_at
        assert session.get_one(Talent, ann).stage == "prospect"
    for talent in (ann, bob):
        kinds = [e.kind for e in world.timeline(talent)]
        assert kinds.count("reconciled") == kinds.count("sent") == 1
    with world.db.session() as session, pytest.raises(InputError, match="sent, not in doubt"):
        settle(
            session,
            [ids["ann@example.com"]],
            sent=True,
            now=world.clock(),
            sends=world.sends,
        )


def test_a_message_in_doubt_is_not_sent_again_to_someone_who_replied_since(
    world: World,
) -> None:
    from engine.outbox.dispatch import settle

    (cy,) = _unanswered(world, "cy@example.com")
    world.clock.advance(hours=2)
    with world.db.session() as session:  # a reply that names no message (a new thread)
        session.add(Engagement(talent_id=cy, kind="replied", occurred_at=world.clock(),
                               channel="email", data={}))  # fmt: skip
        message_id = session.scalars(select(OutboxMessage.message_id)).one()
    with world.db.session() as session, pytest.raises(InputError, match="replied since"):
        settle(session, [message_id], sent=False, now=world.clock(), sends=world.sends)
    world.tick("events")
    assert world.sent() == []


def test_bad_credentials_pause_the_campaign_and_keep_the_queue(world: World) -> None:
    world.clock.now = START
    world.talent("ann@example.com", "events")
    world.channel.failures["ann@example.com"] = ChannelConfigError("401 bad API key")  # type: ignore[assignment]
    summary = world.tick("events")
    assert summary.paused is not None and "401" in summary.paused
    assert world.tick("events").paused is not None  # stays paused: nothing is claimed
    with world.db.session() as session:
        (row,) = session.scalars(select(OutboxMessage))
        assert (row.status, row.attempts) == ("planned", 0)
    del world.channel.failures["ann@example.com"]
    resumed = asyncio.run(tick(world.db, world.rt, world.channels, "events", clock=world.clock,
                               resume_paused=True))  # fmt: skip
    assert resumed.dispatch.sent == 1


def test_interested_reply_makes_a_candidate_books_a_call_and_tells_the_recruiter(
    world: World,
) -> None:
    world.clock.now = START
    ann = world.talent("ann@example.com", "berlin", timezone="Europe/Paris")
    world.tick()
    (intro,) = world.sent("intro")
    world.clock.advance(hours=3)
    applied = world.event("replied", intro, intent="interested", text="Yes, let's talk!")
    assert "stage:candidate" in applied.effects and "task" in applied.effects
    world.tick()
    assert [m.step_id for m in world.sent()] == ["intro", "book_call"]
    assert world.enrollment(ann).outcome == "converted"
    with world.db.session() as session:
        talent = session.get(Talent, ann)
        assert talent is not None and talent.stage == "candidate"
        (task,) = session.scalars(select(Task))
        assert task.title == "Reply from Ann: follow up" and task.body == "Yes, let's talk!"


def test_not_interested_exits_and_snoozes(world: World) -> None:
    world.clock.now = START
    ann = world.talent("ann@example.com", "berlin", timezone="Europe/Paris")
    world.tick()
    applied = world.event("replied", world.sent("intro")[0], intent="not_interested")
    assert "stage:not_interested" in applied.effects
    assert world.enrollment(ann).outcome == "not_interested"
    with world.db.session() as session:
        talent = session.get(Talent, ann)
        assert talent is not None and talent.stage == "not_interested"
        assert talent.recontact_after is not None and talent.recontact_after > START + timedelta(
            days=150
        )


def test_out_of_office_waits_five_business_days_then_follows_up(world: World) -> None:
    world.clock.now = START
    ann = world.talent("ann@example.com", "berlin", timezone="Europe/Paris")
    world.tick()
    world.clock.advance(hours=2)  # Monday 10:00 UTC
    world.event("replied", world.sent("intro")[0], intent="out_of_office", auto_reply=True)
    assert world.enrollment(ann).status == "waiting"
    world.run(until=datetime(2026, 3, 13, 0, 0, tzinfo=UTC))
    (followup,) = world.sent("followup")
    # five business days after Monday 11:00 Paris is the next Monday, 11:00 Paris
    assert local(world_sent_at(world, followup), "Europe/Paris") == datetime(
        2026, 3, 9, 11, 0, tzinfo=PARIS
    )
    assert "waited" in [e.kind for e in world.timeline(ann)]


def test_variants_split_by_weight_and_stick(world: World) -> None:
    world.clock.now = START
    ids = [world.talent(f"t{i}@example.com", "berlin") for i in range(200)]
    world.tick()
    variants = [m.subject.startswith("Quick") for m in world.sent("intro") if m.subject]
    share_b = sum(variants) / len(ids)
    assert len(variants) == 200 and 0.12 < share_b < 0.28  # weights 80/20
    with world.db.session() as session:
        stored = dict(session.execute(select(OutboxMessage.talent_id, OutboxMessage.variant)).all())
    again = {
        m.talent_id: ("b" if m.subject and m.subject.startswith("Quick") else "a")
        for m in world.sent()
    }
    assert stored == again


def test_throttles_defer_instead_of_dropping(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'nurture.db'}")
    limits = "{per_day: 1000, per_hour: 3, per_domain_per_day: 4}"
    world = World(tmp_path / "ws", db, ManualClock(START), limits=limits)
    for i in range(5):
        world.talent(f"t{i}@example.com", "events")
    world.talent("x@other.example", "events")
    summary = world.tick("events")
    assert (summary.dispatch.sent, summary.dispatch.deferred) == (3, 3)
    world.clock.advance(minutes=61)
    world.tick("events")
    assert len(world.sent()) == 5  # the fifth example.com message waits for tomorrow's domain slot
    world.clock.advance(days=1)
    world.tick("events")
    assert sorted(m.to for m in world.sent()) == sorted(
        [f"t{i}@example.com" for i in range(5)] + ["x@other.example"]
    )


def test_opt_out_between_planning_and_sending_sends_nothing(world: World) -> None:
    world.clock.now = datetime(2026, 2, 28, 12, 0, tzinfo=UTC)  # Saturday: planned for Monday
    ann = world.talent("ann@example.com", "berlin", timezone="Europe/Paris")
    bob = world.talent("bob@example.com", "berlin", timezone="Europe/Paris")
    world.tick()
    with world.db.session() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == "planned")
            )
            == 2
        )
    # Sunday: Ann unsubscribes through a webhook (by address); Bob is opted out behind our back.
    world.clock.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    event = InboundEvent(
        kind="unsubscribed",
        provider="test",
        provider_event_id="u1",
        occurred_at=world.clock(),
        channel="email",
        address="ann@example.com",
    )
    with world.db.session() as session:
        apply_event(session, event, now=world.clock())
        talent = session.get(Talent, bob)
        assert talent is not None
        talent.email_opted_out_at = world.clock()
    world.run(until=datetime(2026, 3, 20, 0, 0, tzinfo=UTC))
    assert world.sent() == []
    with world.db.session() as session:
        statuses = sorted(session.scalars(select(OutboxMessage.status)))
    assert statuses == ["cancelled", "cancelled"]
    assert world.enrollment(ann).status == world.enrollment(bob).status == "exited"


def test_task_step_waits_for_the_recruiter(world: World) -> None:
    world.clock.now = START
    ann = world.talent("ann@example.com", "calls")
    world.tick("calls")
    assert world.sent() == [] and world.enrollment(ann).status == "waiting"
    with world.db.session() as session:
        (task,) = session.scalars(select(Task))
        assert task.title == "Call Ann"  # rendered when created, as `nurture preview` shows it
        complete_task(session, task.id, now=world.clock(), sends=world.sends)
    world.tick("calls")
    assert [m.step_id for m in world.sent()] == ["thanks"]
    assert world.enrollment(ann).outcome == "done"


def test_a_claim_whose_lease_expired_is_in_doubt_until_a_provider_event_reconciles_it(
    world: World,
) -> None:
    from engine.outbox.dispatch import LEASE, attempt, claim
    from engine.runs.tick import expire_step

    world.clock.now = START
    ann = world.talent("ann@example.com", "events")
    world.tick("events")  # sends hello to Ann; now plan a second talent and crash mid-send
    bob = world.talent("bob@example.com", "events")
    with world.db.session(immediate=True) as session:
        from engine.enrollments.enroll import advance_due, enroll_audience

        enroll_audience(session, world.rt.workspace, "events", now=world.clock())
        advance_due(session, world.rt, "events", now=world.clock())
    (message,), _ = asyncio.run(claim(world.db, world.rt, "events", now=world.clock()))
    lease_until = world.clock() + LEASE
    asyncio.run(attempt(world.db, [message], lease_until=lease_until))  # its request starts; dies
    world.clock.advance(minutes=11)
    assert expire_step(world.db, world.rt, world.clock) == 1
    world.tick("events")
    assert [m.to for m in world.sent()] == ["ann@example.com"]  # never re-sent by itself
    assert world.enrollment(bob).status == "waiting"  # moved on as if sent at claim time
    event = InboundEvent(
        kind="delivered",
        provider="sendgrid",
        provider_event_id="d-1",
        occurred_at=world.clock(),
        channel="email",
        message_id=message.message_id,
    )
    with world.db.session() as session:
        applied = apply_event(session, event, now=world.clock())
        assert "reconciled" in applied.effects
        status = session.scalar(
            select(OutboxMessage.status).where(OutboxMessage.message_id == message.message_id)
        )
        assert status == "sent"
    with world.db.session() as session:
        assert apply_event(session, event, now=world.clock()).duplicate
    kinds = [e.kind for e in world.timeline(bob)]
    assert kinds.count("in_doubt") == kinds.count("reconciled") == kinds.count("sent") == 1
    assert world.enrollment(bob).outcome == "saw_delivery"
    assert world.enrollment(ann).status == "waiting"


def test_migrate_moves_enrollments_whose_step_still_exists(world: World) -> None:
    from engine.enrollments.enroll import migrate

    world.clock.now = START
    ann = world.talent("ann@example.com", "berlin", timezone="Europe/Paris")
    bob = world.talent("bob@example.com", "events")
    world.tick()
    world.tick("events")
    root = world.rt.workspace.root
    outbound = root / "sequences" / "outbound.yaml"
    outbound.write_text(outbound.read_text().replace("Just following up", "Following up"))
    events = root / "sequences" / "events.yaml"
    events.write_text(events.read_text().replace("id: hello", "id: greeting"))
    edited = load_workspace(root)
    with world.db.session() as session:
        moved = migrate(session, edited, "berlin", now=world.clock())
        kept = migrate(session, edited, "events", now=world.clock())
    assert (moved.moved, moved.kept) == (1, [])
    assert kept.moved == 0 and kept.kept == [
        (world.enrollment(bob).id, "step 'hello' no longer exists")
    ]
    new_hash = edited.sequences["backend-outbound"].content_hash
    assert world.enrollment(ann).content_hash == new_hash
    world.rt = Runtime.load(world.rt.config, edited)
    world.run(until=datetime(2026, 3, 6, 12, 0, tzinfo=UTC))
    (followup,) = world.sent("followup")
    assert followup.text.startswith("Following up")  # the new version's text
