"""Enrolling talents into campaigns, advancing due enrollments, migrating versions.

Rules for entering a campaign: never anyone erased, ``do_not_contact``, snoozed,
not_interested before their re-contact date, or opted out of the first step's channel; one
active outbound enrollment per talent across all campaigns (a partial unique index holds it
even against concurrent workers); no second enrollment into the same campaign unless the
campaign says ``allow_reenroll``. An inbound campaign is entered only through its trigger
event, never from an audience. The frequency cap applies at send time (``engine.outbox.limits``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import and_, exists, func, insert, literal, or_, select, text, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from campaigns.model import Campaign
from campaigns.workspace import Workspace
from engine.core import interpreter as machine
from engine.enrollments.audience import audience_select
from engine.enrollments.progress import ENROLLMENTS, Batch, Lookups, PlanMessages, step_rows
from engine.runs.runtime import Runtime
from engine.store import dialect
from engine.store.models import (
    CHANNELS,
    DUE_STATUSES,
    Enrollment,
    SequenceSnapshot,
    Suppression,
    Talent,
)
from engine.store.rows import EnrollmentRow
from engine.talents.addresses import address_hash_of, talents_by_id
from engine.talents.timeline import batched, record
from sequences.document import SequenceDocument
from sequences.errors import InputError

ACTIVE = ("pending", "sending", "waiting")


@dataclass(frozen=True)
class Skipped:
    """A talent not enrolled, and why."""

    reason: str


@dataclass(frozen=True)
class Advanced:
    """What one pass over due enrollments did."""

    advanced: int = 0
    planned: int = 0
    exited: int = 0
    errors: int = 0  # parked in ``error``: a template failed for that talent

    def __add__(self, other: Advanced) -> Advanced:
        return Advanced(self.advanced + other.advanced, self.planned + other.planned,
                        self.exited + other.exited, self.errors + other.errors)  # fmt: skip


def store_snapshot(session: Session, doc: SequenceDocument, *, now: datetime) -> str:
    """Keep the exact sequence version (idempotent by content hash); returns the hash."""
    key = doc.content_hash
    if session.get(SequenceSnapshot, key) is None:
        try:
            with session.begin_nested():
                session.add(
                    SequenceSnapshot(
                        content_hash=key,
                        sequence=doc.sequence.sequence,
                        document=doc.snapshot(),
                        created_at=now,
                    )
                )
        except IntegrityError:  # another worker stored it first
            pass
    return key


def _campaign(workspace: Workspace, campaign_id: str) -> tuple[Campaign, SequenceDocument]:
    campaign = workspace.campaigns.get(campaign_id)
    if campaign is None:
        raise InputError(f"unknown campaign {campaign_id!r}")
    doc = workspace.sequences.get(campaign.sequence)
    if doc is None:
        raise InputError(f"campaign {campaign_id!r} uses unknown sequence {campaign.sequence!r}")
    return campaign, doc


def _first_channel(doc: SequenceDocument) -> str:
    return doc.sequence.steps[0].channel


def _eligible(now: datetime, channel: str) -> list[object]:
    """SQL conditions a talent must meet to enter a campaign whose first step is ``channel``."""
    opted_out = getattr(Talent, f"{channel}_opted_out_at", None)
    conditions: list[object] = [
        Talent.erased_at.is_(None),
        Talent.stage != "do_not_contact",
        or_(Talent.snoozed_until.is_(None), Talent.snoozed_until <= now),
        or_(Talent.recontact_after.is_(None), Talent.recontact_after <= now),
    ]
    if opted_out is not None:
        conditions.append(opted_out.is_(None))
    if channel in CHANNELS:  # a message first: its address must not be on the suppression list
        to = Talent.email if channel == "email" else Talent.phone
        suppressed = Suppression.address_hash == address_hash_of(to)
        conditions.append(or_(to.is_(None), ~exists().where(suppressed)))
    return conditions


def _blocked(campaign: Campaign, kind: str) -> list[object]:
    """SQL conditions: no active outbound enrollment, no earlier one in this campaign."""
    mine = Enrollment.talent_id == Talent.id
    conditions: list[object] = []
    if kind == "outbound":
        active = and_(mine, Enrollment.kind == "outbound", Enrollment.status != "exited")
        conditions.append(~exists().where(active))
    same = and_(mine, Enrollment.campaign == campaign.campaign)
    if campaign.allow_reenroll:
        same = and_(same, Enrollment.status != "exited")
    conditions.append(~exists().where(same))
    return conditions


def enroll(
    session: Session, workspace: Workspace, campaign_id: str, talent_id: int, *, now: datetime
) -> Enrollment | Skipped:
    """Enroll one talent, or say why not."""
    campaign, doc = _campaign(workspace, campaign_id)
    kind = doc.sequence.kind
    query = select(Talent.id).where(Talent.id == talent_id)
    if session.scalar(query) is None:
        return Skipped("unknown talent")
    if session.scalar(query.where(*_eligible(now, _first_channel(doc)))) is None:  # type: ignore[arg-type]
        return Skipped("not eligible (erased, do_not_contact, snoozed, opted out or suppressed)")
    if session.scalar(query.where(*_blocked(campaign, kind))) is None:  # type: ignore[arg-type]
        return Skipped("already enrolled")
    content_hash = store_snapshot(session, doc, now=now)
    enrollment = _new(campaign, doc, content_hash, talent_id, now)
    try:
        with session.begin_nested():
            session.add(enrollment)
    except IntegrityError:
        return Skipped("already enrolled")
    # the step it enters, as the audience path records it: the report counts it there
    step_id = enrollment.step_id
    record(session, "entered", at=now, talent_id=talent_id, enrollment=enrollment, step_id=step_id)
    return enrollment


def _new(
    campaign: Campaign, doc: SequenceDocument, content_hash: str, talent_id: int, now: datetime
) -> Enrollment:
    state = machine.start(doc.sequence, now=now)
    return Enrollment(
        talent_id=talent_id,
        campaign=campaign.campaign,
        sequence=doc.sequence.sequence,
        content_hash=content_hash,
        kind=doc.sequence.kind,
        status=state.status,
        step_id=state.step_id,
        due_at=state.due_at,
        entered_at=now,
        updated_at=now,
    )


def trigger_event(doc: SequenceDocument) -> str | None:
    """The event that enrolls people into campaigns of this sequence (inbound only)."""
    sequence = doc.sequence
    return sequence.trigger.event if sequence.kind == "inbound" and sequence.trigger else None


def enroll_inbound(
    session: Session, workspace: Workspace, event_name: str, talent_id: int, *, now: datetime
) -> list[Enrollment]:
    """Enroll into every campaign whose inbound sequence is triggered by ``event_name``."""
    enrolled: list[Enrollment] = []
    for campaign_id, campaign in sorted(workspace.campaigns.items()):
        doc = workspace.sequences.get(campaign.sequence)
        if doc is None or trigger_event(doc) != event_name:
            continue
        result = enroll(session, workspace, campaign_id, talent_id, now=now)
        if isinstance(result, Enrollment):
            enrolled.append(result)
    return enrolled


def lock_campaign(session: Session, campaign_id: str) -> None:
    """Serialize this transaction with others on the same campaign."""
    dialect.serialize(session, campaign_id)


def enroll_audience(
    session: Session,
    workspace: Workspace,
    campaign_id: str,
    *,
    now: datetime,
    limit: int | None = None,
) -> int:
    """Enroll the campaign's audience (up to ``enroll_per_run``); returns how many entered.

    An inbound campaign has no audience: its people enter through their trigger event
    (:func:`enroll_inbound`), so a tick or a dry run enrolls nobody there.
    (:func:`engine.store.dialect.insert_selected`: one INSERT ... SELECT where it can).
    """
    campaign, doc = _campaign(workspace, campaign_id)
    limit = campaign.limits.enroll_per_run if limit is None else limit
    if limit <= 0 or doc.sequence.kind == "inbound":
        return 0
    lock_campaign(session, campaign_id)
    content_hash = store_snapshot(session, doc, now=now)
    state = machine.start(doc.sequence, now=now)
    values = {
        "campaign": campaign.campaign, "sequence": doc.sequence.sequence,
        "content_hash": content_hash, "kind": doc.sequence.kind, "status": state.status,
        "step_id": state.step_id, "due_at": now, "entered_at": now, "updated_at": now,
    }  # fmt: skip
    candidates = (  # the audience's own SELECT, narrowed: no self-join
        audience_select(campaign.audience, now)
        .where(*_eligible(now, _first_channel(doc)), *_blocked(campaign, doc.sequence.kind))  # type: ignore[arg-type]
        .order_by(Talent.id)
        .limit(limit)
    )
    before = session.scalar(select(func.coalesce(func.max(Enrollment.id), 0))) or 0
    dialect.insert_selected(session, Enrollment.__table__, "talent_id", candidates, values)
    return _record_entered(session, campaign.campaign, before, now)


def _record_entered(session: Session, campaign_id: str, after_id: int, now: datetime) -> int:
    from engine.store.models import Engagement

    source = select(
        Enrollment.talent_id,
        literal("entered"),
        literal(now, Engagement.occurred_at.type),
        Enrollment.campaign,
        Enrollment.id,
        Enrollment.step_id,
        literal({}, Engagement.data.type),
    ).where(Enrollment.campaign == campaign_id, Enrollment.id > after_id)
    columns = ["talent_id", "kind", "occurred_at", "campaign", "enrollment_id", "step_id", "data"]
    session.execute(insert(Engagement).from_select(columns, source))
    entered = select(func.count()).where(
        Enrollment.campaign == campaign_id, Enrollment.id > after_id
    )
    return int(session.scalar(entered) or 0)


def due_enrollments(
    session: Session, campaign_id: str, *, now: datetime, limit: int
) -> list[EnrollmentRow]:
    """Enrollments of the campaign whose time has come, locked (skip locked on PostgreSQL)."""
    query = (
        select(ENROLLMENTS)
        .where(
            ENROLLMENTS.c.campaign == campaign_id,
            text(DUE_STATUSES),
            ENROLLMENTS.c.due_at <= now,
        )
        .order_by(ENROLLMENTS.c.due_at, ENROLLMENTS.c.id)
        .limit(limit)
    )
    return [
        EnrollmentRow.from_row(row)
        for row in session.execute(query.with_for_update(skip_locked=True))
    ]


def advance_due(
    session: Session, rt: Runtime, campaign_id: str, *, now: datetime, limit: int = 1000
) -> Advanced:
    """Advance one batch of due enrollments: enter steps, plan messages, take timeouts."""
    rows = due_enrollments(session, campaign_id, now=now, limit=limit)
    ids = [row.talent_id for row in rows]
    talents = talents_by_id(session, ids)
    with batched(session) as writes:
        lookups = Lookups.prefetch(session, [row.id for row in rows], talents.values())
        batch = Batch(session, PlanMessages(rt), writes, lookups)
        done = step_rows(batch, rows, machine.Due(), now=now, talents=talents)
    planned = sum(enrollment.status == "sending" for enrollment, _ in done)
    exited = sum(transition.state.status == "exited" for _, transition in done)
    errors = sum(enrollment.status == "error" for enrollment, _ in done)
    return Advanced(len(rows), planned, exited, errors)


@dataclass(frozen=True)
class Migration:
    moved: int
    kept: list[tuple[int, str]]  # (enrollment id, why it stays on its version)
    retried: int = 0  # were in ``error``: due again now, on the current version


def migrate(
    session: Session, workspace: Workspace, campaign_id: str, *, now: datetime
) -> Migration:
    """Move in-flight enrollments to the current sequence version when their step exists,
    and retry those in ``error`` (their template or their talent's data was fixed)."""
    _, doc = _campaign(workspace, campaign_id)
    content_hash = store_snapshot(session, doc, now=now)
    step_ids = {step.id for step in doc.sequence.steps}
    moved, kept = 0, []
    active = select(Enrollment).where(
        Enrollment.campaign == campaign_id,
        Enrollment.status.in_(ACTIVE),
        Enrollment.content_hash != content_hash,
    )
    for enrollment in session.scalars(active):
        if enrollment.step_id in step_ids and enrollment.wait_goto in (None, *step_ids):
            enrollment.content_hash, enrollment.updated_at = content_hash, now
            moved += 1
        else:
            kept.append((enrollment.id, f"step {enrollment.step_id!r} no longer exists"))
    return Migration(moved, kept, _retry(session, campaign_id, content_hash, step_ids, now))


def _retry(
    session: Session, campaign_id: str, content_hash: str, step_ids: set[str], now: datetime
) -> int:
    """Enrollments in ``error`` whose step still exists: pending on it, due now."""
    retried = update(Enrollment).where(
        Enrollment.campaign == campaign_id,
        Enrollment.status == "error",
        Enrollment.step_id.in_(step_ids),
    )
    values = {"content_hash": content_hash, "status": "pending", "due_at": now, "updated_at": now}
    return int(cast(CursorResult[Any], session.execute(retried.values(values))).rowcount)
