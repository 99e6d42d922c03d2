"""The outbox dispatcher: claim due rows, send them through the channel, record receipts.

    planned --claim--> claimed --attempt--> sending --receipt--> sent | failed | planned (backoff)
       |                  |                        |--no answer------> in_doubt --event--> sent
       |                  |                        '--lease expired--> in_doubt
       |                  '--lease expired, stop, pause--> planned (never attempted)
       '--opted out / suppressed at claim--> cancelled

A claim is one short transaction (PostgreSQL: ``FOR UPDATE SKIP LOCKED`` under a per-campaign
advisory lock; SQLite: ``BEGIN IMMEDIATE``) that re-checks opt-out, suppression and
``do_not_contact`` just before sending and applies the sending limits. A lane claims a batch
(500 rows) but attempts it in groups of the in-flight window: each group is marked
``sending`` in one statement right before its requests start, and its receipts are written
as soon as the group's responses are in, in the same transaction as the next group's attempt
(and with the other lanes' writes waiting then: fewer commits, the same window). So only
a ``sending`` row may have reached the provider: after a crash, at most the window is in
doubt, and a row still ``claimed`` goes back to the queue when its lease expires. A
``sending`` row whose lease expired is never sent again by the engine: it becomes
``in_doubt`` until a provider event carrying its id settles it, and its enrollment moves on
as if the message went out at claim time, so nothing stays stuck. So does a message whose
provider call got no answer (a read timeout, a connection lost before the response).

A stop (SIGTERM, SIGINT: :class:`Stop`) ends claiming, lets the requests in flight finish
within a grace period, records their receipts and releases the rest to the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, case, select, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from channels.base import Channel, ChannelName, OutboundMessage, Receipt
from channels.errors import ChannelConfigError, InDoubtError, PermanentError, TransientError
from engine.core import interpreter as machine
from engine.core.calendar import calendar_for
from engine.core.clock import Clock
from engine.core.stages import ON_SENT
from engine.enrollments.enroll import lock_campaign
from engine.enrollments.progress import (
    Batch,
    PlanMessages,
    Sends,
    blocked,
    not_sent,
    step_enrollment,
    step_many,
)
from engine.outbox.limits import Limits, as_timedelta, screen
from engine.runs.runtime import Runtime
from engine.store.database import Database
from engine.store.dialect import among, update_rows
from engine.store.models import (
    CampaignState,
    Engagement,
    Enrollment,
    OutboxMessage,
    OutboxStatus,
    Talent,
)
from engine.store.rows import ENVELOPE, OutboxRow
from engine.talents.addresses import suppressed, talents_by_id
from engine.talents.moves import record_change
from engine.talents.timeline import Writes, batched, record
from sequences.errors import InputError

log = logging.getLogger("nurture.outbox")
LEASE = timedelta(minutes=10)
MAX_ATTEMPTS = 5
WINDOW = 200  # messages attempted at once across a dispatcher's lanes: at most this in doubt
GRACE = 20.0  # seconds a stop waits for the requests in flight


@dataclass
class DispatchReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    deferred: int = 0
    in_doubt: int = 0  # sent but unanswered (expired leases: TickSummary.in_doubt)
    released: int = 0  # claimed, never attempted, back in the queue (a stop, a pause)
    unrecorded: int = 0  # attempted, but their receipts could not be written: in doubt
    paused: str | None = None
    stopped: str | None = None  # the signal that stopped the dispatch, if one did
    errors: list[str] = field(default_factory=list)

    def add(self, other: DispatchReport) -> None:
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.paused = self.paused or other.paused
        self.stopped = self.stopped or other.stopped
        self.errors += other.errors


_COUNTS = ("claimed", "sent", "retried", "failed", "cancelled", "deferred", "in_doubt",
           "released", "unrecorded")  # fmt: skip


# --- claim ----------------------------------------------------------------------------------


def _limits(rt: Runtime, campaign_id: str) -> Limits:
    limits = rt.campaign(campaign_id).limits
    cap = rt.workspace.settings.frequency_cap
    return Limits(
        per_hour=limits.per_hour,
        per_day=limits.per_day,
        per_domain_per_day=limits.per_domain_per_day,
        cap_touches=cap.touches,
        cap_per=as_timedelta(cap.per),
    )


_OUTBOX = cast(Table, OutboxMessage.__table__)
# What the claim needs of a talent: whether they may still be written to, and their zone.
_REACH = (
    Talent.id, Talent.email, Talent.phone, Talent.stage, Talent.erased_at, Talent.timezone,
    Talent.email_opted_out_at, Talent.sms_opted_out_at, Talent.whatsapp_opted_out_at,
)  # fmt: skip


def _due(session: Session, campaign_id: str, now: datetime, limit: int) -> list[OutboxRow]:
    query = (
        select(_OUTBOX)
        .where(
            _OUTBOX.c.campaign == campaign_id,
            _OUTBOX.c.status == "planned",
            _OUTBOX.c.due_at <= now,
        )
        .order_by(_OUTBOX.c.due_at, _OUTBOX.c.id)
        .limit(limit)
    )
    rows = session.execute(query.with_for_update(skip_locked=True))
    return [OutboxRow.from_row(row) for row in rows]


async def claim(
    db: Database,
    rt: Runtime,
    campaign_id: str,
    *,
    now: datetime,
    limit: int = 500,
    lease: timedelta = LEASE,
) -> tuple[list[OutboundMessage], DispatchReport]:
    """Claim up to ``limit`` due rows for sending; returns their messages and what happened.

    Rows are read and claimed with Core statements (no ORM object per row): the ORM is only
    used for the few rows withdrawn here, whose enrollment moves on."""
    report = DispatchReport()
    async with db.transaction() as session:
        await asyncio.to_thread(lock_campaign, session, f"claim:{campaign_id}")  # may wait
        rows = _due(session, campaign_id, now, limit)
        talents = {
            t.id: t
            for t in session.execute(
                select(*_REACH).where(among(session, Talent.id, {row.talent_id for row in rows}))
            )
        }
        allowed: list[OutboxRow] = []
        for sender, group in _by_sender(_withdraw(session, rt, rows, talents, now, report)):
            verdict = screen(session, group, sender, _limits(rt, campaign_id), now=now)
            _defer(session, rt, verdict.deferred, talents, group, report)
            allowed += verdict.allowed
        _mark_claimed(session, allowed, now, lease)
        report.claimed = len(allowed)
    return [outbound(row, rt) for row in allowed], report


def _mark_claimed(session: Session, rows: list[OutboxRow], now: datetime, lease: timedelta) -> None:
    if rows:
        session.execute(
            update(_OUTBOX)
            .where(among(session, _OUTBOX.c.id, [row.id for row in rows]))
            .values(status="claimed", claimed_at=now, lease_until=now + lease,
                    attempts=_OUTBOX.c.attempts + 1)
        )  # fmt: skip


def _by_sender(rows: list[OutboxRow]) -> list[tuple[str, list[OutboxRow]]]:
    groups: dict[str, list[OutboxRow]] = {}
    for row in rows:
        groups.setdefault(row.sender, []).append(row)
    return list(groups.items())


def _withdraw(
    session: Session,
    rt: Runtime,
    rows: list[OutboxRow],
    talents: Mapping[int, Row[Any]],
    now: datetime,
    report: DispatchReport,
) -> list[OutboxRow]:
    """Cancel rows whose talent may no longer be contacted on that channel."""
    on_list = suppressed(session, {row.to for row in rows if row.to})
    keep = []
    for row in rows:
        reason = "suppressed" if row.to in on_list else blocked(talents[row.talent_id], row.channel)
        if reason is None:
            keep.append(row)
            continue
        session.execute(
            update(_OUTBOX).where(_OUTBOX.c.id == row.id).values(status="cancelled", error=reason)
        )
        report.cancelled += 1
        enrollment = session.get(Enrollment, row.enrollment_id)
        if enrollment and enrollment.status == "sending" and enrollment.step_id == row.step_id:
            talent = session.get_one(Talent, row.talent_id)
            not_sent(session, enrollment, talent, reason, now=now, sends=PlanMessages(rt))
    return keep


def _defer(
    session: Session,
    rt: Runtime,
    deferred: Mapping[int, datetime],
    talents: Mapping[int, Row[Any]],
    rows: list[OutboxRow],
    report: DispatchReport,
) -> None:
    """Move rows over a limit to their next free slot, inside the talent's send window."""
    rows = [row for row in rows if row.id in deferred]
    if not rows:
        return
    found = session.execute(
        select(Enrollment.id, Enrollment.content_hash).where(
            Enrollment.id.in_([row.enrollment_id for row in rows])
        )
    )
    snapshots = {enrollment_id: content_hash for enrollment_id, content_hash in found}
    moves = []
    for row in rows:
        at = deferred[row.id]
        if (content_hash := snapshots.get(row.enrollment_id)) is not None:
            settings = rt.document(session, content_hash).sequence.settings
            at = calendar_for(settings, talents[row.talent_id].timezone).next_open(at)
        moves.append({"row": row.id, "at": at})
    session.execute(
        update(_OUTBOX).where(_OUTBOX.c.id == bindparam("row")).values(due_at=bindparam("at")),
        moves,
    )
    report.deferred += len(rows)


# --- send -----------------------------------------------------------------------------------


def outbound(row: OutboxRow, rt: Runtime) -> OutboundMessage:
    """The channel's view of a claimed row; our message id doubles as the reply token."""
    sender = rt.campaign(row.campaign).sender
    return OutboundMessage(
        message_id=row.message_id,
        channel=cast(ChannelName, row.channel),  # the planner wrote one of them
        to=row.to,
        sender=row.sender,
        text=row.text or "",
        sender_name=row.sender_name,
        subject=row.subject,
        html=row.html,
        headers=dict(row.headers or {}),
        talent_id=row.talent_id,
        enrollment_id=row.enrollment_id,
        campaign=row.campaign,
        step_id=row.step_id,
        reply_token=row.message_id,
        unsubscribe_url=row.unsubscribe_url,
        messaging_service_sid=sender.messaging_service_sid if row.channel != "email" else None,
    )


async def send(messages: list[OutboundMessage], channels: Mapping[str, Channel]) -> list[Receipt]:
    """Send claimed messages, grouped by channel, one receipt per message (in any order)."""
    receipts: list[Receipt] = []
    for name in sorted({message.channel for message in messages}):
        group = [message for message in messages if message.channel == name]
        channel = channels.get(name)
        if channel is None:
            error = ChannelConfigError(f"no {name} channel is configured")
            receipts += [Receipt(message.message_id, error=error) for message in group]
            continue
        receipts += await channel.send(group)
    return receipts


# --- receipts -------------------------------------------------------------------------------


def backoff(attempts: int, retry_after: float | None) -> timedelta:
    """1, 2, 4, 8... minutes (at most an hour), or the provider's Retry-After if longer."""
    delay = timedelta(minutes=min(2 ** max(attempts - 1, 0), 60))
    return max(delay, timedelta(seconds=retry_after or 0))


# A receipt or a provider event settles a row in these states (it proves the attempt).
UNSETTLED: tuple[OutboxStatus, ...] = ("claimed", "sending", "in_doubt")

# What recording a receipt reads of an outbox row: everything but the message itself.
_RECEIPT = ENVELOPE


# PostgreSQL aborts one of two transactions that wait for each other (a webhook batch
# locks an enrollment, then its outbox row; a receipt the other way round): try again.
RETRY_STATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure


async def record_receipts(
    db: Database, rt: Runtime, receipts: list[Receipt], *, now: datetime, attempts: int = 3
) -> DispatchReport:
    """Write the outcome of each send in one transaction; a ChannelConfigError pauses.

    Rows no longer claimed or in doubt are left alone (a provider event that came first
    settled them), which also makes a transaction aborted by a deadlock safe to run again.
    Sent rows, the common case, are written in a few statements for the batch; the others
    go through the models one by one."""
    report, _ = await write(db, rt, receipts, [], now=now, attempts=attempts)
    return report


@dataclass(frozen=True)
class Next:
    """What a lane does next with the rest of its claimed batch (``todo``): attempt its
    first ``group`` messages, or, when the dispatcher halts, release them all."""

    todo: Sequence[OutboundMessage]
    lease_until: datetime
    group: int
    release: bool = False


async def write(
    db: Database,
    rt: Runtime,
    receipts: list[Receipt],
    nexts: Sequence[Next],
    *,
    now: datetime,
    attempts: int = 3,
) -> tuple[DispatchReport, list[list[OutboundMessage] | None]]:
    """Record ``receipts`` and carry out each of ``nexts`` in one transaction (one commit
    where a group's receipts and the next group's attempt took two); returns what was
    recorded or released, and for each of ``nexts`` the messages now ``sending``, or None
    if its rest was released (asked to, or the receipts paused the campaign)."""
    for _ in range(attempts - 1):
        try:
            async with db.transaction() as session:
                return _write(session, rt, receipts, nexts, now=now)
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) not in RETRY_STATES:
                raise
            log.warning("recording %d receipts again after: %s", len(receipts), exc.orig)
    async with db.transaction() as session:
        return _write(session, rt, receipts, nexts, now=now)


def _write(
    session: Session, rt: Runtime, receipts: list[Receipt], nexts: Sequence[Next], *,
    now: datetime,
) -> tuple[DispatchReport, list[list[OutboundMessage] | None]]:  # fmt: skip
    report = _record_receipts(session, rt, receipts, now=now) if receipts else DispatchReport()
    attempted: list[list[OutboundMessage] | None] = []
    for step in nexts:
        if step.release or report.paused is not None:
            report.released += _release(session, step.todo, step.lease_until)
            attempted.append(None)
        else:
            attempted.append(_attempt(session, step.todo[: step.group], step.lease_until))
    return report, attempted


def _record_receipts(
    session: Session, rt: Runtime, receipts: list[Receipt], *, now: datetime
) -> DispatchReport:
    report = DispatchReport()
    by_id = {receipt.message_id: receipt for receipt in receipts}
    query = select(*_RECEIPT).where(among(session, _OUTBOX.c.message_id, by_id))
    query = query.with_for_update()
    rows = [OutboxRow.from_row(r) for r in session.execute(query) if r.status in UNSETTLED]
    sent = [row for row in rows if by_id[row.message_id].error is None]
    unsent = [row.id for row in rows if by_id[row.message_id].error is not None]
    with batched(session) as writes:
        if sent:
            _record_sent(Batch(session, PlanMessages(rt), writes), sent, by_id, now)
            report.sent = len(sent)
            writes.flush()  # before the unsent rows' own timeline rows
        if unsent:
            models = list(
                session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(unsent)))
            )
            talents = talents_by_id(session, [row.talent_id for row in models])
            for model in models:
                error = by_id[model.message_id].error
                assert error is not None
                _unsent(session, rt, model, talents[model.talent_id], error, now, report)
    return report


def _record_sent(
    batch: Batch,
    rows: list[OutboxRow],
    receipts: Mapping[str, Receipt],
    now: datetime,
) -> None:
    """Receipts of claimed (or in doubt) rows that went out: rows, timeline, stages, then
    each enrollment moves on (:func:`mark_sent` is the same for one row)."""
    provider_ids = {m: r.provider_id for m, r in receipts.items()}
    _write_sent(batch.session, batch.writes, rows, provider_ids, now)
    moves = [(row.enrollment_id, row.step_id, machine.Sent(row.sent_at or now)) for row in rows]
    step_many(batch, moves, now=now)


def _write_sent(
    session: Session,
    writes: Writes,
    rows: list[OutboxRow],
    provider_ids: Mapping[str, str | None],
    now: datetime,
) -> None:
    """What a sent message writes, with Core statements for the batch: the row, its
    timeline, the talent's last contact and :data:`engine.core.stages.ON_SENT` move."""
    record = writes.record
    update_rows(
        session,
        _OUTBOX,
        [{"id": row.id, "status": "sent", "sent_at": row.sent_at or now, "lease_until": None,
          "error": None,
          "provider_message_id": provider_ids.get(row.message_id) or row.provider_message_id}
         for row in rows],
    )  # fmt: skip
    for row in rows:
        if row.status == "in_doubt":
            record("reconciled", at=now, talent_id=row.talent_id, message=row)
        record("sent", at=row.sent_at or now, talent_id=row.talent_id, message=row)
    talents = cast(Table, Talent.__table__)
    ids = sorted({row.talent_id for row in rows})
    # Read (and lock) the stages by key, then write each talent once: a WHERE on the stage
    # would let PostgreSQL, without fresh statistics, walk the stage index's every person.
    stages = session.execute(
        select(talents.c.id, talents.c.stage)
        .where(among(session, talents.c.id, ids))
        .order_by(talents.c.id)
        .with_for_update()
    )
    moved = [(talent_id, stage) for talent_id, stage in stages if stage in ON_SENT]
    if moved:
        whens = [(talents.c.stage == stage, target) for stage, target in ON_SENT.items()]
        first = talents.c.stage.in_(list(ON_SENT))
        session.execute(
            update(talents)
            .where(among(session, talents.c.id, ids))
            .values(last_contacted_at=now, updated_at=now,
                    stage=case(*whens, else_=talents.c.stage),
                    stage_changed_at=case((first, now), else_=talents.c.stage_changed_at))
        )  # fmt: skip
    else:
        session.execute(
            update(talents)
            .where(among(session, talents.c.id, ids))
            .values(last_contacted_at=now, updated_at=now)
        )
    by_talent = {row.talent_id: row for row in rows}
    for talent_id, stage in moved:
        row = by_talent[talent_id]
        record_change(writes, talent_id, stage, ON_SENT[stage], at=now,
                      reason="first message sent", campaign=row.campaign,
                      enrollment_id=row.enrollment_id)  # fmt: skip


def _unsent(
    session: Session,
    rt: Runtime,
    row: OutboxMessage,
    talent: Talent,
    error: Exception,
    now: datetime,
    report: DispatchReport,
) -> None:
    if isinstance(error, ChannelConfigError):
        row.status, row.claimed_at, row.lease_until = "planned", None, None
        row.attempts, row.error = max(row.attempts - 1, 0), str(error)
        pause(session, row.campaign, f"{row.channel} channel: {error}", now=now)
        report.paused = str(error)
    elif isinstance(error, TransientError) and row.attempts < MAX_ATTEMPTS:
        row.status, row.claimed_at, row.lease_until = "planned", None, None
        row.due_at, row.error = now + backoff(row.attempts, error.retry_after), str(error)
        report.retried += 1
    elif isinstance(error, InDoubtError):
        _in_doubt(session, PlanMessages(rt), row, talent, str(error), now)
        report.in_doubt += 1
    else:
        _failed(session, rt, row, talent, str(error), now=now)
        if isinstance(error, PermanentError) and error.opt_out:
            setattr(talent, f"{row.channel}_opted_out_at", now)
        report.failed += 1


def mark_sent(
    session: Session,
    row: OutboxMessage,
    talent: Talent,
    *,
    now: datetime,
    provider_id: str | None = None,
    sends: Sends,
) -> None:
    """The row went out (a provider event, a settle by hand): what a receipt writes
    (:func:`_write_sent`, the batch path, for this one row), then its enrollment moves on."""
    if row.status == "sent":
        row.provider_message_id = row.provider_message_id or provider_id
        return
    session.flush()  # the caller's changes (a settled row's sent_at) first
    found = session.execute(select(*_RECEIPT).where(_OUTBOX.c.id == row.id)).one()
    snapshot = OutboxRow.from_row(found)
    with batched(session) as writes:
        _write_sent(session, writes, [snapshot], {row.message_id: provider_id}, now)
    session.expire(row)  # written with Core: read again
    session.expire(talent)
    _advance(session, sends, row, talent, machine.Sent(snapshot.sent_at or now), now)


def _advance(
    session: Session,
    sends: Sends,
    row: OutboxMessage,
    talent: Talent,
    trigger: machine.Trigger,
    now: datetime,
) -> None:
    enrollment = session.get(Enrollment, row.enrollment_id)
    if enrollment and enrollment.status == "sending" and enrollment.step_id == row.step_id:
        step_enrollment(session, enrollment, talent, trigger, now=now, sends=sends)


def _failed(
    session: Session, rt: Runtime, row: OutboxMessage, talent: Talent, error: str, *, now: datetime
) -> None:
    row.status, row.error, row.lease_until = "failed", error, None
    record(session, "failed", at=now, talent_id=talent.id, message=row, detail=error)
    enrollment = session.get(Enrollment, row.enrollment_id)
    if enrollment and enrollment.status == "sending" and enrollment.step_id == row.step_id:
        enrollment.status = "waiting"  # the message is done with; its `failed` branch decides
        failed = machine.Event("failed")
        step_enrollment(session, enrollment, talent, failed, now=now, sends=PlanMessages(rt))


# A recruiter's pause (`nurture campaigns pause`): only `nurture campaigns resume` lifts it,
# where `nurture run` lifts the engine's own pause after a channel error (config fixed).
PAUSED_BY_HAND = "by hand (nurture campaigns resume lifts it)"


def pause(session: Session, campaign_id: str, reason: str, *, now: datetime) -> None:
    """Pause the campaign: its ticks enroll, plan and send nothing until it is resumed."""
    state = session.get(CampaignState, campaign_id)
    if state is None:
        state = CampaignState(campaign=campaign_id, paused=False, updated_at=now)
        session.add(state)
    # Logged once per pause, not once per message of the batch that met the error.
    if reason != PAUSED_BY_HAND and not (state.paused and state.reason == reason):
        log.error("campaign %s paused: %s", campaign_id, reason)
    state.paused, state.reason, state.updated_at = True, reason, now


def paused(session: Session, campaign_id: str) -> str | None:
    """The reason the campaign is paused, or None when it runs."""
    state = session.get(CampaignState, campaign_id)
    return state.reason or "paused" if state is not None and state.paused else None


def resume(session: Session, campaign_id: str, *, now: datetime) -> None:
    state = session.get(CampaignState, campaign_id)
    if state is not None:
        state.paused, state.reason, state.updated_at = False, None, now


# --- leases ---------------------------------------------------------------------------------


def expire_leases(session: Session, *, now: datetime, sends: Sends) -> int:
    """Leases that ran out: a row claimed but never attempted goes back to the queue (its
    dispatcher died or stopped before its group's turn); a row being sent becomes
    ``in_doubt``: never re-sent, its enrollment moves on as if sent at claim time (a provider
    event later reconciles the row). Returns how many are now in doubt."""
    session.execute(
        update(_OUTBOX)
        .where(_OUTBOX.c.status == "claimed", _OUTBOX.c.lease_until < now)
        .values(_RELEASED)
    )
    query = select(OutboxMessage).where(
        OutboxMessage.status == "sending", OutboxMessage.lease_until < now
    )
    rows = list(session.scalars(query.with_for_update(skip_locked=True)))
    talents = talents_by_id(session, [row.talent_id for row in rows])
    for row in rows:
        reason = "lease expired before a receipt was recorded"
        _in_doubt(session, sends, row, talents[row.talent_id], reason, now)
    return len(rows)


# A claim that never started: back to the queue, as if never claimed (the claim counted an
# attempt and a touch of the sending limits; neither happened).
_RELEASED: dict[str, Any] = {
    "status": "planned", "claimed_at": None, "lease_until": None,
    "attempts": case((_OUTBOX.c.attempts > 0, _OUTBOX.c.attempts - 1), else_=0),
}  # fmt: skip


def settle(
    session: Session, message_ids: list[str], *, sent: bool, now: datetime, sends: Sends
) -> list[OutboxMessage]:
    """Settle ``in_doubt`` rows by hand, once the provider's log says what happened: mark
    them sent (``sent``), or plan them again to go out at the next tick (they never left).

    Every id must name a row in doubt, or nothing is settled (InputError). Nothing is sent
    again to a talent who has replied since: they are in a conversation now."""
    rows = {
        row.message_id: row
        for row in session.scalars(
            select(OutboxMessage).where(OutboxMessage.message_id.in_(message_ids))
        )
    }
    problems = [
        f"{m}: no such message" if m not in rows else f"{m} is {rows[m].status}, not in doubt"
        for m in message_ids
        if m not in rows or rows[m].status != "in_doubt"
    ]
    if not sent and not problems:
        problems = [
            f"{row.message_id}: the talent replied since"
            for row in _replied(session, rows.values())
        ]
    if problems:
        raise InputError("nothing settled: " + "; ".join(problems))
    talents = talents_by_id(session, [row.talent_id for row in rows.values()])
    for row in rows.values():
        if sent:
            row.sent_at = row.claimed_at  # when it left, as near as we know
            mark_sent(session, row, talents[row.talent_id], now=now, sends=sends)
            continue
        detail = "never left: planned again by hand"
        record(session, "reconciled", at=now, talent_id=row.talent_id, message=row, detail=detail)
        row.status, row.due_at, row.error, row.attempts = "planned", now, None, 0
        row.claimed_at = row.lease_until = None
    return list(rows.values())


def _replied(session: Session, rows: Iterable[OutboxMessage]) -> list[OutboxMessage]:
    """The rows whose talent has replied since the row was claimed."""
    return [
        row
        for row in rows
        if session.scalar(
            select(Engagement.id)
            .where(
                Engagement.talent_id == row.talent_id,
                Engagement.kind == "replied",
                Engagement.occurred_at >= (row.claimed_at or row.due_at),
            )
            .limit(1)
        )
        is not None
    ]


def _in_doubt(
    session: Session, sends: Sends, row: OutboxMessage, talent: Talent, reason: str,
    now: datetime,
) -> None:  # fmt: skip
    """Nobody knows whether ``row`` left: never send it again; its enrollment moves on as if
    it went out at claim time."""
    row.status, row.error, row.lease_until = "in_doubt", reason, None
    record(session, "in_doubt", at=now, talent_id=talent.id, message=row, detail=reason)
    _advance(session, sends, row, talent, machine.Sent(row.claimed_at or now), now)


# --- attempts and stops ----------------------------------------------------------------------


async def attempt(
    db: Database, messages: Sequence[OutboundMessage], *, lease_until: datetime
) -> list[OutboundMessage]:
    """Mark claimed messages ``sending`` right before their requests start; returns those
    still ours to send (a row whose lease ran out went back to the queue: someone else's)."""
    if not messages:
        return []
    async with db.transaction() as session:
        return _attempt(session, messages, lease_until)


def _attempt(
    session: Session, messages: Sequence[OutboundMessage], lease_until: datetime
) -> list[OutboundMessage]:
    ids = [message.message_id for message in messages]
    if not ids:
        return []
    ours = (
        among(session, _OUTBOX.c.message_id, ids),
        _OUTBOX.c.status == "claimed",
        _OUTBOX.c.lease_until == lease_until,
    )
    done = session.execute(update(_OUTBOX).where(*ours).values(status="sending"))
    if cast(Any, done).rowcount == len(ids):
        return list(messages)
    kept = set(
        session.scalars(
            select(_OUTBOX.c.message_id).where(
                among(session, _OUTBOX.c.message_id, ids),
                _OUTBOX.c.status == "sending",
                _OUTBOX.c.lease_until == lease_until,
            )
        )
    )
    return [message for message in messages if message.message_id in kept]


async def release(
    db: Database, messages: Sequence[OutboundMessage], *, lease_until: datetime
) -> int:
    """Put claimed messages that were never attempted back in the queue."""
    if not messages:
        return 0
    async with db.transaction() as session:
        return _release(session, messages, lease_until)


def _release(session: Session, messages: Sequence[OutboundMessage], lease_until: datetime) -> int:
    if not messages:
        return 0
    done = session.execute(
        update(_OUTBOX)
        .where(
            among(session, _OUTBOX.c.message_id, [m.message_id for m in messages]),
            _OUTBOX.c.status == "claimed",
            _OUTBOX.c.lease_until == lease_until,
        )
        .values(_RELEASED)
    )
    return int(cast(Any, done).rowcount)


@dataclass
class Stop:
    """A request to stop dispatching (a signal, a cancelled flow run): no more claims or
    attempts; requests in flight get ``grace`` seconds to answer, then count as in doubt."""

    grace: float = GRACE
    reason: str | None = None
    _event: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def requested(self) -> bool:
        return self.reason is not None

    def request(self, reason: str) -> None:
        if self.reason is None:
            log.warning("%s: stopping; the requests in flight may finish", reason)
            self.reason = reason
            self._event.set()

    async def within_grace(
        self, sending: Awaitable[list[Receipt]], messages: Sequence[OutboundMessage]
    ) -> list[Receipt]:
        """The receipts of ``sending``; if a stop comes and the grace period runs out first,
        the request is cancelled and each message is in doubt (it may have left)."""
        task = asyncio.ensure_future(sending)
        deadline = asyncio.ensure_future(self._deadline())
        try:
            await asyncio.wait({task, deadline}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            deadline.cancel()
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        error = InDoubtError(f"{self.reason}: no answer within the {self.grace:g} s grace period")
        return [Receipt(message.message_id, error=error) for message in messages]

    async def _deadline(self) -> None:
        await self._event.wait()
        await asyncio.sleep(self.grace)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def stopping_on_signals(stop: Stop) -> Iterator[None]:
    """While dispatching, SIGTERM and SIGINT request ``stop`` instead of killing the
    process (or raising KeyboardInterrupt) mid-request; the previous handlers come back
    after. Only the main thread's event loop can take signals: elsewhere, nothing changes."""
    loop = asyncio.get_running_loop()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.request, sig.name)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            loop.remove_signal_handler(sig)
            signal.signal(sig, handler)


# --- the loop -------------------------------------------------------------------------------


async def dispatch(
    db: Database,
    rt: Runtime,
    channels: Mapping[str, Channel],
    campaign_id: str,
    *,
    clock: Clock,
    batch_size: int = 500,
    concurrency: int = 4,
    lease: timedelta = LEASE,
    window: int = WINDOW,
    stop: Stop | None = None,
) -> DispatchReport:
    """Claim, send and record due rows in ``concurrency`` parallel lanes until none is due.

    Each lane claims ``batch_size`` rows and attempts them in groups, so that at most
    ``window`` messages are ``sending`` without a receipt at any moment."""
    stop = stop or Stop()
    with stopping_on_signals(stop):
        report = await _dispatch(
            db, rt, channels, campaign_id, clock=clock, batch_size=batch_size,
            lanes=max(concurrency, 1), lease=lease, window=window, stop=stop,
        )  # fmt: skip
    report.stopped = stop.reason
    return report


async def _dispatch(
    db: Database, rt: Runtime, channels: Mapping[str, Channel], campaign_id: str, *,
    clock: Clock, batch_size: int, lanes: int, lease: timedelta, window: int, stop: Stop,
) -> DispatchReport:  # fmt: skip
    report = DispatchReport()
    group = max(window // lanes, 1)
    # The lanes of one process take turns at the database: a write transaction waits here,
    # not in SQLite's busy handler (which sleeps) or behind a PostgreSQL lock.
    turn = asyncio.Lock()

    def halted() -> bool:
        return report.paused is not None or stop.requested or report.unrecorded > 0

    writes = _Writes(db, rt, clock, turn, report, halted)

    async def send_claimed(messages: list[OutboundMessage], lease_until: datetime) -> None:
        """Each group's receipts are written with the next group's attempt (or the release
        of the rest, once halted): a lane has at most one group without receipts."""
        receipts: list[Receipt] = []
        for start in range(0, len(messages) + group, group):
            attempted = await writes(receipts, Next(messages[start:], lease_until, group))
            if attempted is None:
                return
            receipts = (
                await stop.within_grace(send(attempted, channels), attempted) if attempted else []
            )

    async def lane() -> None:
        while not halted():
            now = clock()
            async with turn:
                messages, claimed = await claim(
                    db, rt, campaign_id, now=now, limit=batch_size, lease=lease
                )
            report.add(claimed)
            if not messages:
                if claimed.cancelled or claimed.deferred:
                    continue  # those left the due set; look again
                return
            await send_claimed(messages, now + lease)

    await asyncio.gather(*(lane() for _ in range(lanes)))
    return report


@dataclass
class _Wait:
    receipts: list[Receipt]
    next: Next
    done: asyncio.Future[list[OutboundMessage] | None]


class _Writes:
    """The lanes' writes, coalesced: the lane whose turn comes writes every receipt and
    attempt waiting, its own and the other lanes', in one transaction. Each lane still
    waits for its own to be written, so the in-flight window is what it was; only the
    commits (and the fixed cost of recording receipts) are fewer."""

    def __init__(
        self, db: Database, rt: Runtime, clock: Clock, turn: asyncio.Lock,
        report: DispatchReport, halted: Callable[[], bool],
    ) -> None:  # fmt: skip
        self.db, self.rt, self.clock, self.turn = db, rt, clock, turn
        self.report, self.halted = report, halted
        self.waiting: list[_Wait] = []

    async def __call__(self, receipts: list[Receipt], step: Next) -> list[OutboundMessage] | None:
        """Record ``receipts``, then attempt the next group of ``step.todo`` (the messages
        now ``sending``), or release the rest if the dispatcher halted (None)."""
        wait = _Wait(receipts, step, asyncio.get_running_loop().create_future())
        self.waiting.append(wait)
        async with self.turn:
            if not wait.done.done():
                waiting, self.waiting = self.waiting, []
                await self._write(waiting)
        return wait.done.result()

    async def _write(self, waiting: list[_Wait]) -> None:
        halted = self.halted()
        nexts = [replace(w.next, release=halted) for w in waiting if w.next.todo]
        receipts = [receipt for w in waiting for receipt in w.receipts]
        try:
            report, attempted = await write(self.db, self.rt, receipts, nexts, now=self.clock())
        except SQLAlchemyError as exc:
            if not receipts:  # nothing sent is at stake: fail as the claim would
                for w in waiting:
                    w.done.set_exception(exc)
                return
            self._failed(waiting, receipts, exc)  # the database is gone: those are in doubt
            await self._release([w.next for w in waiting])
            return
        except BaseException:
            for w in waiting:
                w.done.cancel()
            raise
        self.report.add(report)
        done = iter(attempted)
        for w in waiting:
            w.done.set_result(next(done) if w.next.todo else None if halted else [])

    def _failed(self, waiting: list[_Wait], receipts: list[Receipt], exc: Exception) -> None:
        log.error("could not record %d receipts: %s", len(receipts), exc)
        self.report.unrecorded += len(receipts)
        self.report.errors.append(f"{len(receipts)} receipts not recorded: {exc}")
        for w in waiting:
            w.done.set_result(None)

    async def _release(self, nexts: list[Next]) -> None:
        """After a failed write, what was not attempted goes back to the queue if the
        database answers (else when its lease expires)."""
        try:
            for step in nexts:
                self.report.released += await release(
                    self.db, step.todo, lease_until=step.lease_until
                )
        except SQLAlchemyError as exc:
            log.error("could not release claimed messages: %s", exc)
