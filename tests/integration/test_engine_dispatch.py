"""Never a double send: four dispatchers at once, and dispatchers killed with SIGKILL at
random points (before, during or after a provider call; inside the claim or the receipts
transaction) then restarted; every message is counted at a loopback fake provider.

Workers are forked processes (cheap: the parent has already imported everything); each
opens its own database engine and its own SendGrid channel pointed at the fake provider.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
import random
import signal
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from campaigns.workspace import load_workspace
from channels.base import Channel, InboundEvent, OutboundMessage, Receipt
from channels.testing import FakeProvider, MemoryChannel
from engine.config import Config
from engine.core.clock import fixed_clock
from engine.enrollments.enroll import advance_due, enroll_audience
from engine.inbound.events import apply_event
from engine.outbox import dispatch as outbox
from engine.outbox.adapters import build_channels, close_channels
from engine.outbox.dispatch import dispatch
from engine.runs.runtime import Runtime
from engine.runs.tick import expire_step, tick
from engine.store.database import Database
from engine.store.models import Engagement, Enrollment, OutboxMessage, Talent, TalentLabel

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SEQUENCE = """\
sequence: one-shot
settings:
  timezone: UTC
  send_window: {days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "23:59"}
steps:
  - id: hello
    channel: email
    subject: "Hello {{ talent.first_name }}"
    body: "Hello {{ talent.first_name }}, {{ company.name }} is hiring."
    on: [{exit: done}]
"""
CAMPAIGN = """\
campaign: blast
sequence: one-shot
sender: {name: Charlotte Bellet, email: charlotte@acme.example}
audience: {stage: [person]}
limits: {per_day: 100000, per_hour: 100000, per_domain_per_day: 100000, enroll_per_run: 100000}
"""


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    with FakeProvider(latency=0.005) as fake:
        yield fake


def _workspace(root: Path, sequence: str = SEQUENCE) -> Path:
    """The workspace of campaign ``blast``, which runs ``sequence``."""
    name = sequence.split("\n", 1)[0].removeprefix("sequence: ")
    (root / "sequences").mkdir(parents=True)
    (root / "campaigns").mkdir()
    (root / "nurture.yaml").write_text(
        "company: {name: Acme}\nfrequency_cap: {touches: 100, per: 1 days}\n"
    )
    (root / "sequences" / f"{name}.yaml").write_text(sequence)
    (root / "campaigns" / "blast.yaml").write_text(CAMPAIGN.replace("one-shot", name))
    return root


def _env(url: str, provider: FakeProvider) -> dict[str, str]:
    return {
        "NURTURE_DATABASE_URL": url,
        "NURTURE_EMAIL_CHANNEL": "sendgrid",
        "NURTURE_SMS_CHANNEL": "file",
        "SENDGRID_API_KEY": "SG.fake",
        "NURTURE_PUBLIC_URL": "https://hooks.acme.example",
        "NURTURE_SECRET_KEY": "s" * 32,
        **provider.env(),
    }


def _talents(db: Database, count: int) -> None:
    with db.session() as session:
        for i in range(count):
            talent = Talent(email=f"t{i}@example{i % 7}.com", first_name=f"T{i}", created_at=T0,
                            updated_at=T0)  # fmt: skip
            talent.labels.append(TalentLabel(kind="tag", value="x"))
            session.add(talent)


def _plan(db: Database, root: Path, env: Mapping[str, str], count: int) -> list[str]:
    """``count`` talents enrolled and their message planned, due now."""
    _talents(db, count)
    rt = Runtime.load(Config.load(root, env=env), load_workspace(root))
    with db.session(immediate=True) as session:
        assert enroll_audience(session, rt.workspace, "blast", now=T0) == count
        advance_due(session, rt, "blast", now=T0, limit=count)
    with db.session() as session:
        return list(session.scalars(select(OutboxMessage.message_id)))


class Crashing:
    """Wraps a channel; on batch ``at`` it SIGKILLs its own process before, during or after
    handing the batch to the provider (``where``: before | partial | after)."""

    def __init__(self, inner: Channel, at: int, where: str) -> None:
        self.inner, self.at, self.where, self.batches = inner, at, where, 0
        self.name = inner.name

    async def send(self, messages: Sequence[OutboundMessage]) -> list[Receipt]:
        self.batches += 1
        if self.batches == self.at:
            if self.where != "before":
                part = messages if self.where == "after" else messages[: len(messages) // 2]
                await self.inner.send(part)
            os.kill(os.getpid(), signal.SIGKILL)
        return await self.inner.send(messages)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _die_on_call(module: Any, name: str, at: int) -> None:
    """SIGKILL this process inside the ``at``-th call of ``module.name``, after it has run:
    its writes are flushed, the transaction around it is not committed."""
    inner, calls = getattr(module, name), itertools.count(1)

    def dying(*args: Any, **kwargs: Any) -> Any:
        result = inner(*args, **kwargs)
        if next(calls) == at:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(module, name, dying)


def _worker(root: str, env: dict[str, str], now: str, crash: tuple[int, str] | None) -> None:
    config = Config.load(Path(root), env=env)
    db = Database(config.database_url, migrate=False)
    rt = Runtime.load(config)
    channels = build_channels(config)
    if crash is not None and crash[1] == "claiming":  # inside the claim transaction
        _die_on_call(outbox, "_mark_claimed", crash[0])
    elif crash is not None and crash[1] == "recording":  # inside the receipts transaction
        _die_on_call(outbox, "_record_sent", crash[0])
    elif crash is not None:
        channels["email"] = Crashing(channels["email"], *crash)
    clock = fixed_clock(datetime.fromisoformat(now))

    async def run() -> None:
        await dispatch(db, rt, channels, "blast", clock=clock, batch_size=10, concurrency=2)
        await close_channels(channels)

    asyncio.run(run())
    db.dispose()
    # Skip the exit hooks inherited from the parent: once a test has started Prefect, its
    # services' thread-exit hooks fail in a forked child (AssertionError, exit code 1).
    os._exit(0)


def _start(root: Path, env: dict[str, str], now: datetime, crash: tuple[int, str] | None = None
           ) -> multiprocessing.process.BaseProcess:  # fmt: skip
    process = multiprocessing.get_context("fork").Process(
        target=_worker, args=(str(root), env, now.isoformat(), crash)
    )
    process.start()
    return process


def test_four_dispatchers_at_once_send_each_message_exactly_once(
    db: Database, db_url: str, tmp_path: Path, provider: FakeProvider
) -> None:
    root = _workspace(tmp_path / "ws")
    env = _env(db_url, provider)
    provider.reset()
    planned = _plan(db, root, env, 200)
    workers = [_start(root, env, T0) for _ in range(4)]
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    counts = provider.counts()
    assert sorted(counts) == sorted(planned)
    assert set(counts.values()) == {1}
    with db.session() as session:
        assert set(session.scalars(select(OutboxMessage.status))) == {"sent"}
        assert set(session.scalars(select(Enrollment.outcome))) == {"done"}


def test_dispatchers_killed_at_random_points_never_send_twice(
    db: Database, db_url: str, tmp_path: Path, provider: FakeProvider
) -> None:
    root = _workspace(tmp_path / "ws")
    env = _env(db_url, provider)
    provider.reset()
    planned = _plan(db, root, env, 150)
    rng = random.Random(5)
    where = ["before", "partial", "after", "claiming", "recording"]
    killed = set()
    for i in range(10):
        crash = (rng.randint(1, 3), where[i % len(where)])
        worker = _start(root, env, T0 + timedelta(seconds=i), crash)
        worker.join(timeout=60)
        assert worker.exitcode in (-signal.SIGKILL, 0)
        if worker.exitcode == -signal.SIGKILL:
            killed.add(crash[1])
    assert killed == set(where)  # each kind of crash did happen
    later = T0 + timedelta(hours=1)  # every lease has expired: the restart finds them
    config = Config.load(root, env=env)
    expire_step(db, Runtime.load(config), fixed_clock(later))
    restart = _start(root, env, later)
    restart.join(timeout=60)
    assert restart.exitcode == 0
    counts = provider.counts()
    assert set(counts.values()) <= {1}  # nothing twice
    with db.session() as session:
        rows = {
            m: s for m, s in session.execute(select(OutboxMessage.message_id, OutboxMessage.status))
        }
        stuck = session.scalars(select(Enrollment.id).where(Enrollment.status != "exited")).all()
    assert set(rows) == set(planned)
    assert set(rows.values()) <= {"sent", "in_doubt"}
    assert "in_doubt" in rows.values()  # the crashes did leave some in doubt
    assert {m for m, s in rows.items() if s == "sent"} <= set(counts)  # "sent" reached it
    assert stuck == []


def test_a_tick_in_worker_processes_sends_each_message_once(
    db: Database, db_url: str, tmp_path: Path, provider: FakeProvider
) -> None:
    """NURTURE_TICK_SHARDS=3 outside a work pool: three `python -m engine.runs.workers` plan
    and send the tick."""
    root = _workspace(tmp_path / "ws")
    env = {**_env(db_url, provider), "NURTURE_TICK_SHARDS": "3", "PATH": os.environ["PATH"]}
    provider.reset()
    _talents(db, 240)
    config = Config.load(root, env=env)
    unused = MemoryChannel()  # the workers build their own channels from the configuration
    channels: dict[str, Channel] = {"email": unused, "sms": unused, "whatsapp": unused}
    summary = asyncio.run(
        tick(db, Runtime.load(config), channels, "blast", clock=fixed_clock(T0), batch_size=40)
    )
    assert (summary.enrolled, summary.advanced, summary.planned) == (240, 240, 240)
    assert (summary.dispatch.claimed, summary.dispatch.sent, summary.exited) == (240, 240, 0)
    assert summary.dispatch.errors == [] and unused.sent == []
    counts = provider.counts()
    assert len(counts) == 240 and set(counts.values()) == {1}
    with db.session() as session:
        assert set(session.scalars(select(OutboxMessage.status))) == {"sent"}
        assert set(session.scalars(select(Enrollment.outcome))) == {"done"}


ASK = """\
sequence: ask
settings:
  timezone: UTC
  send_window: {days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "23:59"}
  stop_on: [replied]
steps:
  - id: hello
    channel: email
    subject: "Hello {{ talent.first_name }}"
    body: "Hello {{ talent.first_name }}, {{ company.name }} is hiring."
    on: [{after: 3 days, goto: again}]
  - id: again
    channel: email
    thread: hello
    body: "Any thoughts?"
    on: [{after: 3 days, exit: no_response}]
"""


def test_a_reply_applied_while_its_receipt_is_recorded_is_never_written_over(
    db: Database, db_url: str, tmp_path: Path, provider: FakeProvider
) -> None:
    """The webhook transaction holds the enrollment (PostgreSQL: FOR UPDATE) while the
    dispatcher records the send: the receipt waits, then sees the exit, and no follow-up
    is ever planned for someone who replied."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite serializes every write transaction (BEGIN IMMEDIATE)")
    root = _workspace(tmp_path / "ws", ASK)
    env = _env(db_url, provider)
    _talents(db, 1)
    rt = Runtime.load(Config.load(root, env=env), load_workspace(root))
    with db.session(immediate=True) as session:
        enroll_audience(session, rt.workspace, "blast", now=T0)
        advance_due(session, rt, "blast", now=T0)
    (hello,), _ = asyncio.run(outbox.claim(db, rt, "blast", now=T0))
    asyncio.run(outbox.record_receipts(db, rt, [Receipt(hello.message_id, "sg-1")], now=T0))
    later = T0 + timedelta(days=3)
    with db.session(immediate=True) as session:
        advance_due(session, rt, "blast", now=later)
    (again,), _ = asyncio.run(outbox.claim(db, rt, "blast", now=later))  # the follow-up is sent...
    with db.session() as session:  # (a candidate already: the reply leaves the talent as is)
        session.execute(update(Talent).values(stage="candidate"))
    reply = InboundEvent(kind="replied", provider="sendgrid", provider_event_id="r-1",
                         occurred_at=later, channel="email", message_id=hello.message_id,
                         text="Not now, thanks.")  # fmt: skip
    receipt = Receipt(again.message_id, provider_id="sg-2")
    with db.session() as webhook:
        apply_event(webhook, reply, now=later)  # ...when the reply to the first one lands
        recording = threading.Thread(
            target=asyncio.run, args=(outbox.record_receipts(db, rt, [receipt], now=later),)
        )
        recording.start()
        _wait_for_a_lock_wait(db)  # the receipt waits for the reply's transaction
    recording.join(timeout=30)
    assert not recording.is_alive()
    with db.session() as session:
        enrollment = session.scalars(select(Enrollment)).one()
        sent = session.scalars(select(OutboxMessage.step_id).where(OutboxMessage.status == "sent"))
        assert sorted(sent) == ["again", "hello"]
    assert (enrollment.status, enrollment.outcome) == ("exited", "replied")


def _wait_for_a_lock_wait(db: Database) -> None:
    waiting = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
    for _ in range(500):
        with db.engine.connect() as connection:
            if connection.scalar(waiting):
                return
        threading.Event().wait(0.01)  # polling another connection, not the engine's clock
    raise AssertionError("the receipt never waited for the reply's transaction")


class _Deadlock(Exception):
    sqlstate = "40P01"  # what psycopg's DeadlockDetected carries


def test_receipts_aborted_by_a_deadlock_are_recorded_again_once(
    db: Database, db_url: str, tmp_path: Path, provider: FakeProvider, monkeypatch: Any
) -> None:
    root = _workspace(tmp_path / "ws")
    env = _env(db_url, provider)
    _plan(db, root, env, 3)
    rt = Runtime.load(Config.load(root, env=env), load_workspace(root))
    messages, _ = asyncio.run(outbox.claim(db, rt, "blast", now=T0))
    record_sent, calls = outbox._record_sent, itertools.count(1)

    def deadlocked_once(*args: Any, **kwargs: Any) -> None:
        record_sent(*args, **kwargs)  # its writes are made, then the database aborts them
        if next(calls) == 1:
            raise DBAPIError("UPDATE enrollments ...", {}, _Deadlock("deadlock detected"))

    monkeypatch.setattr(outbox, "_record_sent", deadlocked_once)
    receipts = [Receipt(m.message_id, provider_id=f"sg-{i}") for i, m in enumerate(messages)]
    report = asyncio.run(outbox.record_receipts(db, rt, receipts, now=T0))
    assert report.sent == 3
    with db.session() as session:
        kinds = session.scalars(select(Engagement.kind).where(Engagement.kind != "entered"))
        assert (
            sorted(kinds) == ["exited"] * 3 + ["planned"] * 3 + ["sent"] * 3 + ["stage_changed"] * 3
        )
        assert set(session.scalars(select(Enrollment.outcome))) == {"done"}


CHAIN = """\
sequence: chain
settings:
  timezone: UTC
  send_window: {days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "23:59"}
steps:
  - id: hello
    channel: email
    subject: "Hello {{ talent.first_name or 'there' }}"
    body: "Hello, {{ company.name }} is hiring."
    on: [{goto: again}]
  - id: again
    channel: email
    if: talent.first_name
    thread: hello
    body: "{{ talent.first_name }}, one more thing."
    on: [{exit: done}]
"""


def test_a_receipt_that_plans_the_next_message_at_once_renders_it_for_its_talent(
    db: Database, db_url: str, tmp_path: Path, provider: FakeProvider
) -> None:
    """Receipts move enrollments in a batch: a guard reads the talent, a goto plans the
    next (threaded) message in the same transaction, and the tick sends it too."""
    root = _workspace(tmp_path / "ws", CHAIN)
    with db.session() as session:
        for email, name in (("ann@example.com", "Ann"), ("anon@example.com", None)):
            session.add(Talent(email=email, first_name=name, created_at=T0, updated_at=T0))
    memory = MemoryChannel()
    channels: dict[str, Channel] = {"email": memory, "sms": memory, "whatsapp": memory}
    rt = Runtime.load(Config.load(root, env=_env(db_url, provider)), load_workspace(root))
    summary = asyncio.run(tick(db, rt, channels, "blast", clock=fixed_clock(T0)))
    assert summary.dispatch.sent == 3
    sent = [(m.to, m.step_id, m.subject, m.text) for m in memory.sent]
    assert sorted(sent) == [
        ("ann@example.com", "again", "Re: Hello Ann", "Ann, one more thing."),
        ("ann@example.com", "hello", "Hello Ann", "Hello, Acme is hiring."),
        ("anon@example.com", "hello", "Hello there", "Hello, Acme is hiring."),
    ]
    again = next(m for m in memory.sent if m.step_id == "again")
    first = next(m for m in memory.sent if m.to == "ann@example.com" and m.step_id == "hello")
    assert again.headers["In-Reply-To"] == first.headers["Message-ID"]
    with db.session() as session:
        outcomes = dict(session.execute(select(Talent.email, Enrollment.outcome).join(
            Enrollment, Enrollment.talent_id == Talent.id)).tuples().all())  # fmt: skip
        skipped = session.scalars(select(Engagement.step_id).where(Engagement.kind == "skipped"))
        assert list(skipped) == ["again"]  # the guard: no first name
    assert outcomes == {"ann@example.com": "done", "anon@example.com": "done"}
