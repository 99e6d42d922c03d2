"""The outbox dispatcher: claim due rows, send them through the channel, record receipts.

    planned --claim--> claimed --receipt--> sent | failed | planned (transient, backoff)
       |                  '--lease expired--> in_doubt --provider event--> sent
       '--opted out / suppressed at claim--> cancelled

A claim is one short transaction (PostgreSQL: ``FOR UPDATE SKIP LOCKED`` under a per-campaign
advisory lock; SQLite: ``BEGIN IMMEDIATE``) that re-checks opt-out, suppression and
``do_not_contact`` just before sending and applies the sending limits. Sending happens
outside any transaction. A claimed row whose lease expired is never sent again by the
engine: it becomes ``in_doubt`` until a provider event carrying its id reconciles it, and
its enrollment moves on as if the message went out at claim time, so nothing stays stuck.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from channels.base import Channel, OutboundMessage, Receipt
from channels.errors import ChannelConfigError, PermanentError, TransientError
from engine import interpreter as machine
from engine.calendar import calendar_for
from engine.clock import Clock
from engine.db import Database
from engine.enrollments import lock_campaign
from engine.limits import Limits, as_timedelta, screen
from engine.models import CampaignState, Enrollment, OutboxMessage, Suppression, Talent
from engine.progress import not_sent, prefetch, step_enrollment, unreachable
from engine.runtime import Runtime
from engine.stages import change_stage
from engine.talents import address_hash
from engine.timeline import batched, record

log = logging.getLogger("nurture.outbox")
LEASE = timedelta(minutes=10)
MAX_ATTEMPTS = 5


@dataclass
class DispatchReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    deferred: int = 0
    paused: str | None = None
    errors: list[str] = field(default_factory=list)

    def add(self, other: DispatchReport) -> None:
        for name in ("claimed", "sent", "retried", "failed", "cancelled", "deferred"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.paused = self.paused or other.paused
        self.errors += other.errors


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


def _due(session: Session, campaign_id: str, now: datetime, limit: int) -> list[OutboxMessage]:
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.campaign == campaign_id,
            OutboxMessage.status == "planned",
            OutboxMessage.due_at <= now,
        )
        .order_by(OutboxMessage.due_at, OutboxMessage.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def _suppressed(session: Session, rows: list[OutboxMessage]) -> set[str]:
    hashes = {address_hash(row.to): row.to for row in rows if row.to}
    found = session.scalars(
        select(Suppression.address_hash).where(Suppression.address_hash.in_(hashes))
    )
    return {hashes[value] for value in found}


def claim(
    db: Database,
    rt: Runtime,
    campaign_id: str,
    *,
    now: datetime,
    limit: int = 500,
    lease: timedelta = LEASE,
) -> tuple[list[OutboxMessage], DispatchReport]:
    """Claim up to ``limit`` due rows for sending; returns them (detached) and what happened."""
    report = DispatchReport()
    with db.session(immediate=True) as session:
        lock_campaign(session, f"claim:{campaign_id}")
        rows = _due(session, campaign_id, now, limit)
        talents = _talents(session, [row.talent_id for row in rows])
        _enrollments(session, rows, talents)
        allowed: list[OutboxMessage] = []
        for sender, group in _by_sender(_withdraw(session, rt, rows, talents, now, report)):
            verdict = screen(session, group, sender, _limits(rt, campaign_id), now=now)
            _defer(session, rt, verdict.deferred, talents, group, report)
            allowed += verdict.allowed
        _mark_claimed(session, allowed, now, lease)
        report.claimed = len(allowed)
        session.expunge_all()
    return allowed, report


def _by_sender(rows: list[OutboxMessage]) -> list[tuple[str, list[OutboxMessage]]]:
    groups: dict[str, list[OutboxMessage]] = {}
    for row in rows:
        groups.setdefault(row.sender, []).append(row)
    return list(groups.items())


def _mark_claimed(
    session: Session, rows: list[OutboxMessage], now: datetime, lease: timedelta
) -> None:
    for row in rows:
        row.status, row.claimed_at, row.lease_until = "claimed", now, now + lease
        row.attempts += 1
    session.flush()


def _enrollments(session: Session, rows: list[OutboxMessage], talents: dict[int, Talent]) -> None:
    """Load the rows' enrollments into the session at once, and the batch lookups."""
    ids = [row.enrollment_id for row in rows]
    enrollments = list(session.scalars(select(Enrollment).where(Enrollment.id.in_(ids))))
    prefetch(session, enrollments, list(talents.values()))


def _talents(session: Session, ids: list[int]) -> dict[int, Talent]:
    return {t.id: t for t in session.scalars(select(Talent).where(Talent.id.in_(ids)))}


def _withdraw(
    session: Session,
    rt: Runtime,
    rows: list[OutboxMessage],
    talents: dict[int, Talent],
    now: datetime,
    report: DispatchReport,
) -> list[OutboxMessage]:
    """Cancel rows whose talent may no longer be contacted on that channel."""
    suppressed = _suppressed(session, rows)
    keep = []
    for row in rows:
        talent = talents[row.talent_id]
        reason = "suppressed" if row.to in suppressed else unreachable(session, talent, row.channel)
        if reason is None:
            keep.append(row)
            continue
        row.status, row.error = "cancelled", reason
        report.cancelled += 1
        enrollment = session.get(Enrollment, row.enrollment_id)
        if enrollment and enrollment.status == "sending" and enrollment.step_id == row.step_id:
            not_sent(session, enrollment, talent, reason, now=now, rt=rt)
    return keep


def _defer(
    session: Session,
    rt: Runtime,
    deferred: Mapping[int, datetime],
    talents: dict[int, Talent],
    rows: list[OutboxMessage],
    report: DispatchReport,
) -> None:
    for row in rows:
        if row.id not in deferred:
            continue
        enrollment = session.get(Enrollment, row.enrollment_id)
        settings = (
            rt.document(session, enrollment.content_hash).sequence.settings if enrollment else None
        )
        at = deferred[row.id]
        if settings is not None:
            at = calendar_for(settings, talents[row.talent_id].timezone).next_open(at)
        row.due_at = at
        report.deferred += 1


# --- send -----------------------------------------------------------------------------------


def outbound(row: OutboxMessage, rt: Runtime) -> OutboundMessage:
    """The channel's view of a claimed row; our message id doubles as the reply token."""
    sender = rt.campaign(row.campaign).sender
    return OutboundMessage(
        message_id=row.message_id,
        channel=row.channel,  # type: ignore[arg-type]
        to=row.to,
        sender=row.sender,
        text=row.text,
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


async def send(
    rows: list[OutboxMessage], rt: Runtime, channels: Mapping[str, Channel]
) -> list[Receipt]:
    """Send claimed rows, grouped by channel, one receipt per row (in any order)."""
    receipts: list[Receipt] = []
    for name in sorted({row.channel for row in rows}):
        group = [outbound(row, rt) for row in rows if row.channel == name]
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


def record_receipts(
    db: Database, rt: Runtime, receipts: list[Receipt], *, now: datetime
) -> DispatchReport:
    """Write the outcome of each send in one transaction; a ChannelConfigError pauses."""
    report = DispatchReport()
    by_id = {receipt.message_id: receipt for receipt in receipts}
    with db.session(immediate=True) as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.message_id.in_(by_id)))
        rows_list = list(rows)
        talents = _talents(session, [row.talent_id for row in rows_list])
        _enrollments(session, rows_list, talents)
        with batched(session):
            for row in rows_list:
                receipt = by_id[row.message_id]
                _receipt(session, rt, row, talents[row.talent_id], receipt, now, report)
    return report


def _receipt(
    session: Session,
    rt: Runtime,
    row: OutboxMessage,
    talent: Talent,
    receipt: Receipt,
    now: datetime,
    report: DispatchReport,
) -> None:
    error = receipt.error
    if row.status not in ("claimed", "in_doubt"):
        return  # already settled, e.g. reconciled by a provider event that came first
    if error is None:
        mark_sent(session, row, talent, now=now, provider_id=receipt.provider_id, rt=rt)
        report.sent += 1
    elif isinstance(error, ChannelConfigError):
        row.status, row.claimed_at, row.lease_until = "planned", None, None
        row.attempts, row.error = max(row.attempts - 1, 0), str(error)
        pause(session, row.campaign, f"{row.channel} channel: {error}", now=now)
        report.paused = str(error)
    elif isinstance(error, TransientError) and row.attempts < MAX_ATTEMPTS:
        row.status, row.claimed_at, row.lease_until = "planned", None, None
        row.due_at, row.error = now + backoff(row.attempts, error.retry_after), str(error)
        report.retried += 1
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
    rt: Runtime | None = None,
) -> None:
    """The row went out: record it, stage the talent prospect, move the enrollment on."""
    was = row.status
    if was == "sent":
        row.provider_message_id = row.provider_message_id or provider_id
        return
    row.status, row.sent_at, row.lease_until, row.error = "sent", row.sent_at or now, None, None
    row.provider_message_id = provider_id or row.provider_message_id
    if was == "in_doubt":
        record(session, "reconciled", at=now, talent_id=talent.id, message=row)
    record(session, "sent", at=row.sent_at, talent_id=talent.id, message=row)
    talent.last_contacted_at, talent.updated_at = now, now
    if talent.stage == "person":
        change_stage(session, talent, "prospect", at=now, reason="first message sent",
                     campaign=row.campaign, enrollment_id=row.enrollment_id)  # fmt: skip
    _advance(session, rt, row, talent, machine.Sent(row.sent_at), now)


def _advance(
    session: Session,
    rt: Runtime | None,
    row: OutboxMessage,
    talent: Talent,
    trigger: machine.Trigger,
    now: datetime,
) -> None:
    enrollment = session.get(Enrollment, row.enrollment_id)
    if enrollment and enrollment.status == "sending" and enrollment.step_id == row.step_id:
        step_enrollment(session, enrollment, talent, trigger, now=now, rt=rt)


def _failed(
    session: Session, rt: Runtime, row: OutboxMessage, talent: Talent, error: str, *, now: datetime
) -> None:
    row.status, row.error, row.lease_until = "failed", error, None
    record(session, "failed", at=now, talent_id=talent.id, message=row, detail=error)
    enrollment = session.get(Enrollment, row.enrollment_id)
    if enrollment and enrollment.status == "sending" and enrollment.step_id == row.step_id:
        enrollment.status = "waiting"  # the message is done with; its `failed` branch decides
        step_enrollment(session, enrollment, talent, machine.Event("failed"), now=now, rt=rt)


def pause(session: Session, campaign_id: str, reason: str, *, now: datetime) -> None:
    state = session.get(CampaignState, campaign_id)
    if state is None:
        state = CampaignState(campaign=campaign_id, paused=True, reason=reason, updated_at=now)
        session.add(state)
    state.paused, state.reason, state.updated_at = True, reason, now
    log.error("campaign %s paused: %s", campaign_id, reason)


def paused(session: Session, campaign_id: str) -> str | None:
    """The reason the campaign is paused, or None when it runs."""
    state = session.get(CampaignState, campaign_id)
    return state.reason or "paused" if state is not None and state.paused else None


def resume(session: Session, campaign_id: str, *, now: datetime) -> None:
    state = session.get(CampaignState, campaign_id)
    if state is not None:
        state.paused, state.reason, state.updated_at = False, None, now


# --- leases ---------------------------------------------------------------------------------


def expire_leases(session: Session, *, now: datetime, rt: Runtime | None = None) -> int:
    """Claims whose lease ran out become ``in_doubt``: never re-sent, their enrollment moves
    on as if sent at claim time (a provider event later reconciles the row)."""
    query = select(OutboxMessage).where(
        OutboxMessage.status == "claimed", OutboxMessage.lease_until < now
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(session.scalars(query))
    talents = _talents(session, [row.talent_id for row in rows])
    for row in rows:
        row.status, row.error = "in_doubt", "lease expired before a receipt was recorded"
        talent = talents[row.talent_id]
        record(session, "in_doubt", at=now, talent_id=talent.id, message=row)
        _advance(session, rt, row, talent, machine.Sent(row.claimed_at or now), now)
    return len(rows)


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
) -> DispatchReport:
    """Claim, send and record due rows in ``concurrency`` parallel lanes until none is due."""
    report = DispatchReport()
    # The lanes of one process take turns at the database: a write transaction waits here,
    # not in SQLite's busy handler (which sleeps) or behind a PostgreSQL lock.
    turn = asyncio.Lock()

    async def lane() -> None:
        while report.paused is None:
            async with turn:
                rows, claimed = await asyncio.to_thread(
                    claim, db, rt, campaign_id, now=clock(), limit=batch_size, lease=lease
                )
            report.add(claimed)
            if not rows:
                if claimed.cancelled or claimed.deferred:
                    continue  # those left the due set; look again
                return
            receipts = await send(rows, rt, channels)
            async with turn:
                done = await asyncio.to_thread(record_receipts, db, rt, receipts, now=clock())
            report.add(done)

    await asyncio.gather(*(lane() for _ in range(max(concurrency, 1))))
    return report
