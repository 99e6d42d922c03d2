"""Enrollment rules and sending limits, proved by what the database says afterwards.

Who is enrolled, what is planned, deferred or sent, on SQLite and on PostgreSQL (the ``db``
fixture), with the in-memory channel and a manual clock: time is set, never slept.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from campaigns.workspace import load_workspace
from channels.errors import PermanentError
from channels.memory import MemoryChannel
from engine.config import Config
from engine.core.clock import ManualClock
from engine.enrollments.enroll import Skipped, enroll, enroll_audience
from engine.runs.runtime import Runtime
from engine.runs.tick import TickSummary, tick
from engine.store.database import Database
from engine.store.models import Enrollment, OutboxMessage, Suppression, Talent, TalentLabel
from engine.talents.addresses import address_hash

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday
ALWAYS_OPEN = """\
settings:
  timezone: UTC
  send_window: {days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "23:59"}
"""
SEQUENCES = {  # the steps of each sequence; all of them send at any hour
    # one email, then the enrollment is over
    "one-shot": """\
steps:
  - id: hello
    channel: email
    subject: "Hello {{ talent.first_name }}"
    body: "Hello {{ talent.first_name }}, {{ company.name }} is hiring."
    on: [{exit: done}]
""",
    # one email, then a long wait: the enrollment stays active for 30 days
    "slow": """\
steps:
  - id: hello
    channel: email
    subject: "Hello {{ talent.first_name }}"
    body: "Hello {{ talent.first_name }}."
    on: [{after: 30 days, exit: no_response}]
""",
    # an email, then an SMS a day later
    "two-channels": """\
steps:
  - id: intro
    channel: email
    subject: "Hello {{ talent.first_name }}"
    body: "Hello {{ talent.first_name }}."
    on: [{after: 1 days, goto: nudge}]
  - id: nudge
    channel: sms
    body: "Hi {{ talent.first_name }}, {{ sender.first_name }} here."
    on: [{after: 1 days, exit: done}]
""",
}
OPEN_LIMITS = "{per_day: 1000, per_hour: 1000, per_domain_per_day: 1000, enroll_per_run: 1000}"
NO_CAP = "{touches: 100, per: 1 days}"


def campaign(
    name: str,
    sequence: str,
    *,
    limits: str = OPEN_LIMITS,
    stages: str = "[person, prospect]",
    reenroll: bool = False,
) -> str:
    """A campaign whose audience is every talent tagged with its own name."""
    return f"""\
campaign: {name}
sequence: {sequence}
sender: {{name: Charlotte Bellet, email: charlotte@acme.example, sms_from: "+4915112345678"}}
audience: {{stage: {stages}, tags_all: [{name}]}}
limits: {limits}
allow_reenroll: {str(reenroll).lower()}
"""


class World:
    """A workspace of the given campaigns, the test's database, a manual clock, and the
    in-memory channel for email and SMS."""

    def __init__(
        self, root: Path, db: Database, campaigns: dict[str, str], *, cap: str = NO_CAP
    ) -> None:
        (root / "sequences").mkdir(parents=True)
        (root / "campaigns").mkdir()
        (root / "nurture.yaml").write_text(f"company: {{name: Acme}}\nfrequency_cap: {cap}\n")
        for name, steps in SEQUENCES.items():
            text = f"sequence: {name}\n{ALWAYS_OPEN}{steps}"
            (root / "sequences" / f"{name}.yaml").write_text(text)
        for name, text in campaigns.items():
            (root / "campaigns" / f"{name}.yaml").write_text(text)
        config = Config.load(root, env={"NURTURE_SECRET_KEY": "k" * 32})
        self.db, self.clock, self.channel = db, ManualClock(T0), MemoryChannel()
        self.rt = Runtime.load(config, load_workspace(root))
        self.channels: dict[str, Any] = {"email": self.channel, "sms": self.channel}

    def talent(self, email: str, *tags: str, **fields: Any) -> int:
        now = self.clock()
        with self.db.session() as session:
            name = email.split("@", maxsplit=1)[0].title()
            talent = Talent(email=email, first_name=name, created_at=now, updated_at=now, **fields)
            talent.labels.extend(TalentLabel(kind="tag", value=tag) for tag in tags)
            session.add(talent)
            session.flush()
            return talent.id

    def at(self, when: datetime) -> World:
        self.clock.now = when
        return self

    def tick(self, name: str) -> TickSummary:
        return asyncio.run(tick(self.db, self.rt, self.channels, name, clock=self.clock))

    def enroll_audience(self, name: str) -> int:
        with self.db.session(immediate=True) as session:
            return enroll_audience(session, self.rt.workspace, name, now=self.clock())

    def enroll_one(self, name: str, talent_id: int) -> str:
        """Enroll one talent by hand: "enrolled", or the reason it was skipped."""
        with self.db.session(immediate=True) as session:
            result = enroll(session, self.rt.workspace, name, talent_id, now=self.clock())
            return result.reason if isinstance(result, Skipped) else "enrolled"

    def enrolled(self, name: str) -> list[str]:
        """Emails of everyone enrolled in campaign ``name``, in enrollment order."""
        query = (
            select(Talent.email)
            .join(Enrollment, Enrollment.talent_id == Talent.id)
            .where(Enrollment.campaign == name)
            .order_by(Enrollment.id)
        )
        with self.db.session() as session:
            return [str(email) for email in session.scalars(query)]

    def enrollments(self, email: str) -> list[tuple[str, str, str | None]]:
        """(campaign, status, outcome) of each enrollment of ``email``, oldest first."""
        query = (
            select(Enrollment.campaign, Enrollment.status, Enrollment.outcome)
            .join(Talent, Enrollment.talent_id == Talent.id)
            .where(Talent.email == email)
            .order_by(Enrollment.id)
        )
        with self.db.session() as session:
            return [(c, s, o) for c, s, o in session.execute(query)]

    def outbox(self, email: str) -> list[tuple[str, str, str, datetime, datetime | None]]:
        """(campaign, step, status, due_at, sent_at) of each outbox row to ``email``."""
        query = (
            select(
                OutboxMessage.campaign,
                OutboxMessage.step_id,
                OutboxMessage.status,
                OutboxMessage.due_at,
                OutboxMessage.sent_at,
            )
            .join(Talent, OutboxMessage.talent_id == Talent.id)
            .where(Talent.email == email)
            .order_by(OutboxMessage.id)
        )
        with self.db.session() as session:
            return [(c, st, s, d, at) for c, st, s, d, at in session.execute(query)]

    def sent_to(self, address: str) -> list[str]:
        """``campaign:step`` of every message the channel delivered to ``address``."""
        return [f"{m.campaign}:{m.step_id}" for m in self.channel.sent_to(address)]


def test_one_active_outbound_enrollment_per_talent_across_campaigns(
    db: Database, tmp_path: Path
) -> None:
    one_per_run = "{per_day: 1000, per_hour: 1000, per_domain_per_day: 1000, enroll_per_run: 1}"
    world = World(
        tmp_path / "ws",
        db,
        {
            "alpha": campaign("alpha", "slow"),
            "beta": campaign("beta", "one-shot", limits=one_per_run),
        },
    )
    ann = world.talent("ann@example.com", "alpha", "beta")
    world.talent("bob@example.com", "beta")
    assert world.tick("alpha").enrolled == 1
    assert world.enrollments("ann@example.com") == [("alpha", "waiting", None)]

    # Ann is active in alpha: beta enrolls Bob only, whether by audience or by hand. She is
    # not even a candidate: with one enrollment per run, her place goes to Bob.
    assert world.at(T0 + timedelta(hours=1)).tick("beta").enrolled == 1
    assert world.enrolled("beta") == ["bob@example.com"]
    assert world.enroll_one("beta", ann) == "already enrolled"
    assert world.enrollments("ann@example.com") == [("alpha", "waiting", None)]
    assert world.sent_to("ann@example.com") == ["alpha:hello"]

    # Once alpha is over for her, beta may take her.
    world.at(T0 + timedelta(days=30)).tick("alpha")
    assert world.enrollments("ann@example.com") == [("alpha", "exited", "no_response")]
    assert world.tick("beta").enrolled == 1
    assert world.enrolled("beta") == ["bob@example.com", "ann@example.com"]
    assert world.enrollments("ann@example.com") == [
        ("alpha", "exited", "no_response"),
        ("beta", "exited", "done"),
    ]
    assert world.sent_to("ann@example.com") == ["alpha:hello", "beta:hello"]


def test_no_second_enrollment_in_a_campaign_unless_it_allows_reenroll(
    db: Database, tmp_path: Path
) -> None:
    world = World(
        tmp_path / "ws",
        db,
        {
            "once": campaign("once", "one-shot"),
            "again": campaign("again", "one-shot", reenroll=True),
        },
    )
    ann = world.talent("ann@example.com", "once")
    bob = world.talent("bob@example.com", "again")
    assert (world.tick("once").enrolled, world.tick("again").enrolled) == (1, 1)
    assert world.enrollments("ann@example.com") == [("once", "exited", "done")]
    assert world.enrollments("bob@example.com") == [("again", "exited", "done")]

    world.at(T0 + timedelta(days=1))
    assert world.enroll_audience("once") == 0
    assert world.enroll_one("once", ann) == "already enrolled"
    assert world.enroll_audience("again") == 1  # allow_reenroll: Bob comes back ...
    assert world.enroll_audience("again") == 0  # ... but never twice at the same time
    assert world.enroll_one("again", bob) == "already enrolled"
    world.tick("again")
    assert world.enrollments("ann@example.com") == [("once", "exited", "done")]
    assert world.enrollments("bob@example.com") == [
        ("again", "exited", "done"),
        ("again", "exited", "done"),
    ]
    assert world.sent_to("ann@example.com") == ["once:hello"]
    assert world.sent_to("bob@example.com") == ["again:hello", "again:hello"]


def test_enroll_per_run_caps_each_run(db: Database, tmp_path: Path) -> None:
    limits = "{per_day: 1000, per_hour: 1000, per_domain_per_day: 1000, enroll_per_run: 2}"
    world = World(tmp_path / "ws", db, {"capped": campaign("capped", "slow", limits=limits)})
    emails = [f"t{i}@example{i}.com" for i in range(5)]
    for email in emails:
        world.talent(email, "capped")
    assert world.enroll_audience("capped") == 2
    assert world.enrolled("capped") == emails[:2]
    assert world.tick("capped").enrolled == 2  # a tick is a run too
    assert world.enrolled("capped") == emails[:4]
    assert world.enroll_audience("capped") == 1
    assert world.enroll_audience("capped") == 0
    assert world.enrolled("capped") == emails


def test_opted_out_suppressed_do_not_contact_and_snoozed_are_never_contacted(
    db: Database, tmp_path: Path
) -> None:
    # The audience admits do_not_contact on purpose: the engine's own rule must keep them out.
    stages = "[person, prospect, do_not_contact]"
    world = World(tmp_path / "ws", db, {"rules": campaign("rules", "two-channels", stages=stages)})
    phone = iter(f"+49151123456{i:02d}" for i in range(10))
    ok = world.talent("ok@example.com", "rules", phone=next(phone))
    no_email = world.talent(
        "no-email@example.com", "rules", phone=next(phone), email_opted_out_at=T0
    )
    world.talent("no-sms@example.com", "rules", phone=next(phone), sms_opted_out_at=T0)
    dnc = world.talent("dnc@example.com", "rules", phone=next(phone), stage="do_not_contact")
    snoozed = world.talent(
        "snoozed@example.com", "rules", phone=next(phone), snoozed_until=T0 + timedelta(days=3)
    )
    gone = world.talent("gone@example.com", "rules", phone=next(phone))
    with db.session() as session:
        session.add(Suppression(address_hash=address_hash("gone@example.com"), kind="email",
                                reason="bounced", created_at=T0))  # fmt: skip

    late_phone = next(phone)
    world.talent("late@example.com", "rules", phone=late_phone)

    world.tick("rules")
    with db.session() as session:  # after the first email: the phone lands on the list
        session.add(Suppression(address_hash=address_hash(late_phone), kind="sms",
                                reason="carrier violation", created_at=T0))  # fmt: skip
    assert world.enroll_one("rules", dnc).startswith("not eligible")
    assert world.enroll_one("rules", snoozed).startswith("not eligible")
    world.at(T0 + timedelta(days=1)).tick("rules")  # the SMS step is due
    world.at(T0 + timedelta(days=3)).tick("rules")  # the snooze is over
    world.at(T0 + timedelta(days=4)).tick("rules")
    world.at(T0 + timedelta(days=5)).tick("rules")

    assert world.sent_to("ok@example.com") == ["rules:intro"]
    assert [m.step_id for m in world.channel.sent if m.talent_id == ok] == ["intro", "nudge"]
    # opted out of the first step's channel: not enrolled at all
    assert world.enrollments("no-email@example.com") == []
    # opted out of SMS only: gets the email, and the SMS step is skipped for them
    assert world.sent_to("no-sms@example.com") == ["rules:intro"]
    assert [(s, st) for _, s, st, _, _ in world.outbox("no-sms@example.com")] == [("intro", "sent")]
    assert world.enrollments("no-sms@example.com") == [("rules", "exited", "done")]
    # do_not_contact: never enrolled, even with the audience admitting the stage
    assert world.enrollments("dnc@example.com") == []
    # a suppressed address (its hash is on the list): never enrolled, nothing planned
    assert world.outbox("gone@example.com") == []
    assert world.enrollments("gone@example.com") == []
    assert world.enroll_one("rules", gone).startswith("not eligible")
    # suppressed once enrolled: the next message to that address is never planned
    assert world.sent_to("late@example.com") == ["rules:intro"]
    assert [s for _, s, _, _, _ in world.outbox("late@example.com")] == ["intro"]
    assert world.enrollments("late@example.com") == [("rules", "exited", "suppressed")]
    # snoozed: left out while the snooze lasts, enrolled and contacted once it is over
    assert world.enrolled("rules")[-1] == "snoozed@example.com"
    assert [(s, sent) for _, s, _, _, sent in world.outbox("snoozed@example.com")] == [
        ("intro", T0 + timedelta(days=3)),
        ("nudge", T0 + timedelta(days=4)),
    ]
    contacted = {m.talent_id for m in world.channel.attempts}  # by email or SMS
    assert contacted.isdisjoint({no_email, dnc, gone})


def _capped_world(db: Database, tmp_path: Path) -> World:
    """Two one-shot campaigns under a cap of one touch per 2 days; Ann is in both."""
    world = World(
        tmp_path / "ws",
        db,
        {"first": campaign("first", "one-shot"), "second": campaign("second", "one-shot")},
        cap="{touches: 1, per: 2 days}",
    )
    world.talent("ann@example.com", "first", "second")
    return world


def test_frequency_cap_defers_the_second_campaign_until_the_cap_allows(
    db: Database, tmp_path: Path
) -> None:
    world = _capped_world(db, tmp_path)
    world.talent("bob@example.com", "second")
    assert world.tick("first").dispatch.sent == 1

    summary = world.at(T0 + timedelta(hours=1)).tick("second")
    assert (summary.enrolled, summary.dispatch.sent, summary.dispatch.deferred) == (2, 1, 1)
    assert world.sent_to("bob@example.com") == ["second:hello"]  # Bob was not touched before
    assert world.sent_to("ann@example.com") == ["first:hello"]
    # Ann's message waits, planned for the moment her first touch leaves the 2-day window
    free = T0 + timedelta(days=2)
    assert world.outbox("ann@example.com") == [
        ("first", "hello", "sent", T0, T0),
        ("second", "hello", "planned", free, None),
    ]
    assert world.enrollments("ann@example.com")[-1] == ("second", "sending", None)

    world.at(free - timedelta(minutes=1)).tick("second")
    assert world.sent_to("ann@example.com") == ["first:hello"]
    world.at(free).tick("second")
    assert world.sent_to("ann@example.com") == ["first:hello", "second:hello"]
    assert world.outbox("ann@example.com")[-1] == ("second", "hello", "sent", free, free)
    assert world.enrollments("ann@example.com")[-1] == ("second", "exited", "done")


def test_a_failed_message_is_not_a_touch_under_the_frequency_cap(
    db: Database, tmp_path: Path
) -> None:
    world = _capped_world(db, tmp_path)
    world.channel.fail("ann@example.com", PermanentError("mailbox unavailable"))
    assert world.tick("first").dispatch.failed == 1
    assert world.outbox("ann@example.com")[0][2] == "failed"  # claimed, yet never delivered

    world.channel.recover("ann@example.com")
    summary = world.at(T0 + timedelta(hours=1)).tick("second")
    assert (summary.dispatch.sent, summary.dispatch.deferred) == (1, 0)
    assert world.sent_to("ann@example.com") == ["second:hello"]


@pytest.mark.parametrize("per_day", [3, 4])
def test_a_limit_just_under_or_at_the_outbox_size_is_kept_exactly(
    db: Database, tmp_path: Path, per_day: int
) -> None:
    """Windows are not counted when the outbox is too small to fill them. Here it holds
    two sent messages and the two being claimed: a limit of 3 lets one more through."""
    limits = f"{{per_day: {per_day}, per_hour: 1000, per_domain_per_day: 1000}}"
    campaigns = {"first": campaign("first", "one-shot"),
                 "daily": campaign("daily", "one-shot", limits=limits)}  # fmt: skip
    world = World(tmp_path / "ws", db, campaigns)
    for i in range(4):
        world.talent(f"t{i}@example{i}.com", "first" if i < 2 else "daily")
    assert world.tick("first").dispatch.sent == 2  # the same sender's touches
    summary = world.tick("daily")
    assert (summary.dispatch.sent, summary.dispatch.deferred) == (per_day - 2, 4 - per_day)


def test_per_sender_daily_limit_defers_to_the_next_day_and_sends_then(
    db: Database, tmp_path: Path
) -> None:
    limits = "{per_day: 2, per_hour: 1000, per_domain_per_day: 1000, enroll_per_run: 1000}"
    world = World(
        tmp_path / "ws",
        db,
        {  # two campaigns, one sender: the limit is the sender's, not each campaign's
            "daily": campaign("daily", "one-shot", limits=limits),
            "other": campaign("other", "one-shot", limits=limits),
        },
    )
    emails = [f"t{i}@example{i}.com" for i in range(5)]
    for email in emails:
        world.talent(email, "daily")
    world.talent("zoe@example.net", "other")

    summary = world.tick("daily")
    assert (summary.enrolled, summary.dispatch.sent, summary.dispatch.deferred) == (5, 2, 3)
    assert world.at(T0 + timedelta(minutes=5)).tick("other").dispatch.deferred == 1

    def sent_at() -> dict[str, datetime | None]:
        return {e: world.outbox(e)[0][4] for e in [*emails, "zoe@example.net"]}

    def due_at() -> dict[str, datetime]:
        return {e: world.outbox(e)[0][3] for e in [*emails, "zoe@example.net"]}

    day1, day2 = T0 + timedelta(days=1), T0 + timedelta(days=2)
    assert due_at() == {**dict.fromkeys(emails[:2], T0), **dict.fromkeys(emails[2:], day1),
                        "zoe@example.net": day1}  # fmt: skip
    world.at(day1 - timedelta(minutes=1)).tick("daily")
    world.tick("other")
    assert len(world.channel.sent) == 2

    world.at(day1).tick("daily")  # two of the three waiting go; the third waits a day more
    world.tick("other")  # the sender's two slots are taken: Zoe waits too
    assert len(world.channel.sent) == 4
    assert due_at()["t4@example4.com"] == due_at()["zoe@example.net"] == day2

    world.at(day2).tick("daily")
    world.tick("other")
    assert sent_at() == {**dict.fromkeys(emails[:2], T0), **dict.fromkeys(emails[2:4], day1),
                         "t4@example4.com": day2, "zoe@example.net": day2}  # fmt: skip
    assert len(world.channel.sent) == 6  # every message went out, once
    with db.session() as session:
        assert set(session.scalars(select(OutboxMessage.status))) == {"sent"}
