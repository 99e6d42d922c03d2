"""What a dispatcher leaves behind when it stops: a stop (a signal) lets the group in flight
finish and releases the rest; a provider that does not answer within the grace period
leaves only that group in doubt; receipts that cannot be written are counted as such, not
as sent; a claim never attempted goes back to the queue when its lease expires."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from test_engine_dispatch import T0, _plan, _workspace

from campaigns.workspace import load_workspace
from channels.base import OutboundMessage, Receipt
from channels.testing import MemoryChannel
from engine.config import Config
from engine.core.clock import fixed_clock
from engine.outbox import dispatch as outbox
from engine.runs.runtime import Runtime
from engine.runs.tick import expire_step
from engine.store.database import Database
from engine.store.models import OutboxMessage


class Held(MemoryChannel):
    """Sends like MemoryChannel; its ``at``-th batch requests ``stop`` while in flight, and
    answers only if ``answers`` (else it hangs until cancelled)."""

    def __init__(self, stop: outbox.Stop, at: int = 1, *, answers: bool = True) -> None:
        super().__init__()
        self.stop, self.at, self.answers, self.calls = stop, at, answers, 0

    async def send(self, messages: Sequence[OutboundMessage]) -> list[Receipt]:
        self.calls += 1
        if self.calls == self.at:
            self.stop.request("SIGTERM")
            if not self.answers:
                await asyncio.Event().wait()  # a provider that never answers
        return await super().send(messages)


def _setup(db: Database, db_url: str, tmp_path: Path, count: int) -> tuple[Runtime, list[str]]:
    root = _workspace(tmp_path / "ws")
    env = {"NURTURE_DATABASE_URL": db_url, "NURTURE_SECRET_KEY": "s" * 32}
    planned = _plan(db, root, env, count)
    return Runtime.load(Config.load(root, env=env), load_workspace(root)), planned


def _statuses(db: Database) -> Counter[str]:
    with db.session() as session:
        return Counter(session.scalars(select(OutboxMessage.status)))


def _dispatch(db: Database, rt: Runtime, channel: MemoryChannel, stop: outbox.Stop | None,
              window: int = 10) -> outbox.DispatchReport:  # fmt: skip
    return asyncio.run(
        outbox.dispatch(db, rt, {"email": channel}, "blast", clock=fixed_clock(T0),
                        batch_size=50, concurrency=1, window=window, stop=stop)
    )  # fmt: skip


def test_a_stop_finishes_the_group_in_flight_and_releases_the_rest(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    rt, planned = _setup(db, db_url, tmp_path, 60)
    stop = outbox.Stop(grace=5)
    channel = Held(stop, at=2)
    report = _dispatch(db, rt, channel, stop)
    assert report.stopped == "SIGTERM"
    assert report.sent == len(channel.sent) == 20  # the group in flight finished
    assert report.released == 30 and report.in_doubt == 0  # the rest of the claimed batch
    assert _statuses(db) == {"sent": 20, "planned": 40}
    with db.session() as session:
        attempts = set(session.scalars(
            select(OutboxMessage.attempts).where(OutboxMessage.status == "planned")))  # fmt: skip
    assert attempts == {0}  # a release is not an attempt
    again = MemoryChannel()
    assert _dispatch(db, rt, again, None).sent == 40
    assert sorted(m.message_id for m in channel.sent + again.sent) == sorted(planned)


def test_a_provider_silent_past_the_grace_period_leaves_only_its_group_in_doubt(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    rt, _ = _setup(db, db_url, tmp_path, 30)
    stop = outbox.Stop(grace=0)
    report = _dispatch(db, rt, Held(stop, answers=False), stop)
    assert report.stopped == "SIGTERM"
    assert report.in_doubt == 10 and report.released == 20 and report.sent == 0
    assert _statuses(db) == {"in_doubt": 10, "planned": 20}


def test_receipts_that_cannot_be_written_are_not_reported_sent(
    db: Database, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    rt, _ = _setup(db, db_url, tmp_path, 30)

    def down(*_args: object, **_kwargs: object) -> outbox.DispatchReport:
        raise OperationalError("UPDATE outbox", {}, Exception("server closed the connection"))

    monkeypatch.setattr(outbox, "_record_receipts", down)
    channel = MemoryChannel()
    report = _dispatch(db, rt, channel, None)
    assert len(channel.sent) == 10  # one group went out, then the dispatcher stopped
    assert report.sent == 0 and report.unrecorded == 10 and report.released == 20
    assert report.errors and "not recorded" in report.errors[0]
    assert _statuses(db) == {"sending": 10, "planned": 20}
    monkeypatch.undo()
    later = fixed_clock(T0 + outbox.LEASE + timedelta(seconds=1))
    assert expire_step(db, rt, later) == 10  # never re-sent: in doubt
    again = MemoryChannel()
    asyncio.run(outbox.dispatch(db, rt, {"email": again}, "blast", clock=later))
    assert len(again.sent) == 20
    assert {m.message_id for m in again.sent}.isdisjoint(m.message_id for m in channel.sent)


def test_a_claim_never_attempted_goes_back_to_the_queue_when_its_lease_expires(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    rt, _ = _setup(db, db_url, tmp_path, 3)
    messages, _ = asyncio.run(outbox.claim(db, rt, "blast", now=T0))  # then the process dies
    asyncio.run(outbox.attempt(db, messages[:1], lease_until=T0 + outbox.LEASE))
    assert expire_step(db, rt, fixed_clock(T0 + timedelta(minutes=5))) == 0  # still leased
    later = fixed_clock(T0 + outbox.LEASE + timedelta(seconds=1))
    assert expire_step(db, rt, later) == 1  # the one attempted
    assert _statuses(db) == {"in_doubt": 1, "planned": 2}
    channel = MemoryChannel()
    asyncio.run(outbox.dispatch(db, rt, {"email": channel}, "blast", clock=later))
    assert sorted(m.message_id for m in channel.sent) == sorted(m.message_id for m in messages[1:])


def test_an_expired_claim_taken_by_another_dispatcher_is_not_attempted_by_the_first(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    rt, _ = _setup(db, db_url, tmp_path, 2)
    first, _ = asyncio.run(outbox.claim(db, rt, "blast", now=T0))
    later = T0 + outbox.LEASE + timedelta(seconds=1)
    expire_step(db, rt, fixed_clock(later))
    second, _ = asyncio.run(outbox.claim(db, rt, "blast", now=later))
    assert asyncio.run(outbox.attempt(db, first, lease_until=T0 + outbox.LEASE)) == []
    assert len(asyncio.run(outbox.attempt(db, second, lease_until=later + outbox.LEASE))) == 2


class Lookup(MemoryChannel):
    """A channel that can look its messages up: it finds those in ``known``."""

    def __init__(self, known: dict[str, str]) -> None:
        super().__init__()
        self.known, self.asked = known, []  # type: list[str]

    async def lookup(self, message: OutboundMessage, since: object) -> str | None:
        self.asked.append(message.message_id)
        return self.known.get(message.message_id)


def test_messages_in_doubt_found_at_the_provider_are_settled_before_anyone_is_asked(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    from engine.outbox.reconcile import reconcile
    from engine.runs.tick import tick

    rt, _ = _setup(db, db_url, tmp_path, 4)
    stop = outbox.Stop(grace=0)
    _dispatch(db, rt, Held(stop, answers=False), stop, window=2)
    with db.session() as session:
        query = select(OutboxMessage.message_id).where(OutboxMessage.status == "in_doubt")
        doubt = sorted(session.scalars(query))
    assert len(doubt) == 2
    channel = Lookup({doubt[0]: "SM-found"})
    assert asyncio.run(reconcile(db, rt, {"email": channel}, "blast", now=T0)) == 1
    assert sorted(channel.asked) == doubt
    with db.session() as session:
        rows = {r.message_id: r for r in session.scalars(select(OutboxMessage))}
    assert rows[doubt[0]].status == "sent" and rows[doubt[0]].provider_message_id == "SM-found"
    assert rows[doubt[1]].status == "in_doubt" and "not found at the provider" in (
        rows[doubt[1]].error or ""
    )
    later = fixed_clock(T0 + timedelta(minutes=1))
    summary = asyncio.run(tick(db, rt, {"email": Lookup({})}, "blast", clock=later))
    assert summary.reconciled == 0 and summary.dispatch.sent == 2  # the two released
