"""Applying a batch of provider events (a SendGrid post holds up to ~1,000) at webhook speed.

Most events of a batch change nothing but the timeline: a delivery or an open of a message
already sent, to a talent already engaged, at a step with no branch for it. Those "quiet"
events are written in one bulk insert; every other event goes through
``engine.inbound.events.apply_event``, one by one, in the order received. The split is per talent:
when one event of a talent needs the engine, all of that talent's events do, so effects
keep their order. The result is the same timeline as applying every event one by one.

    1. replays: one query for the batch's provider event ids already stored (and repeats
       within the batch): counted as duplicates, nothing else done
    2. correlation: our message ids (and the provider's) to outbox rows, in one query
    3. quiet: delivered/processed/deferred/opened/clicked of a ``sent`` row, the enrollment
       exited or its current step with no branch for the event and the event not in
       ``stop_on``; a quiet first open or click still moves the talent to ``engaged``
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, tuple_
from sqlalchemy.orm import Session

from campaigns.workspace import Workspace
from channels.base import InboundEvent
from engine.core import interpreter as machine
from engine.core.stages import can_move
from engine.enrollments.progress import state_of
from engine.inbound.events import apply_event, branch_event, engages, timeline_row
from engine.runs.runtime import load_document
from engine.store.models import Engagement, Enrollment, OutboxMessage, Talent
from engine.store.rows import ENVELOPE, EnrollmentRow, OutboxRow
from engine.talents.moves import change_stage
from sequences.document import SequenceDocument

QUIET_KINDS = frozenset({"sent", "delivered", "deferred", "opened", "clicked"})


@dataclass(frozen=True)
class BatchResult:
    received: int
    stored: int
    duplicates: int
    bulk: int  # of ``stored``: written in one insert, without the engine's per-event path


@dataclass
class _Batch:
    rows: dict[str, OutboxRow]  # our message id -> its outbox row (no content)
    by_provider_id: dict[str, OutboxRow]
    stages: dict[int, str]  # talent id -> stage
    enrollments: dict[int, EnrollmentRow]
    documents: dict[str, SequenceDocument]


def apply_events(
    session: Session,
    events: Sequence[InboundEvent],
    *,
    now: datetime,
    workspace: Callable[[], Workspace | None] = lambda: None,
) -> BatchResult:
    """Apply ``events`` in one transaction; replays are duplicates.

    ``workspace`` is called only when a task or guard an event reaches needs the campaign's
    sender and company: a batch of deliveries and opens reads no workspace file.
    """
    fresh = _fresh(session, events)
    batch = _load(session, fresh)
    loud = {_talent_of(batch, e) for e in fresh if not _quiet(batch, e)}
    quiet = [e for e in fresh if _talent_of(batch, e) not in loud]
    if quiet:
        session.execute(insert(Engagement), [_row(batch, e) for e in quiet])
        _engage(session, batch, quiet, now)
    duplicates = len(events) - len(fresh)
    engine = [e for e in fresh if _talent_of(batch, e) in loud]
    for event in engine:
        duplicates += apply_event(session, event, now=now, workspace=workspace).duplicate
    stored = len(events) - duplicates
    return BatchResult(len(events), stored, duplicates, len(quiet))


def _fresh(session: Session, events: Sequence[InboundEvent]) -> list[InboundEvent]:
    """The events not stored before, each once, in order."""
    keys = {(e.provider, e.provider_event_id) for e in events}
    stored: set[tuple[str, str]] = set()
    for chunk in _chunks(sorted(keys), 400):
        pair = tuple_(Engagement.provider, Engagement.provider_event_id)
        found = session.execute(
            select(Engagement.provider, Engagement.provider_event_id).where(pair.in_(chunk))
        )
        stored.update((p, i) for p, i in found if p is not None and i is not None)
    fresh = []
    for event in events:
        key = (event.provider, event.provider_event_id)
        if key not in stored:
            stored.add(key)
            fresh.append(event)
    return fresh


def _load(session: Session, events: list[InboundEvent]) -> _Batch:
    ours = {e.message_id for e in events if e.message_id}
    theirs = {e.provider_message_id for e in events if e.provider_message_id and not e.message_id}
    rows = _outbox(session, OutboxMessage.message_id, ours)
    by_provider = _outbox(session, OutboxMessage.provider_message_id, theirs)
    found = [*rows.values(), *by_provider.values()]
    talents = {row.talent_id for row in found}
    query = select(Talent.id, Talent.stage).where(Talent.id.in_(talents))
    stages = {talent_id: stage for talent_id, stage in session.execute(query)} if talents else {}
    ids = {row.enrollment_id for row in found}
    # Locked (PostgreSQL), in id order as every batch takes them: a receipt recorded at the
    # same time waits for this event instead of writing over its move.
    locked = select(Enrollment).where(Enrollment.id.in_(ids)).order_by(Enrollment.id)
    enrollments = {
        e.id: EnrollmentRow.from_row(e) for e in session.scalars(locked.with_for_update())
    }
    hashes = {e.content_hash for e in enrollments.values() if e.status != "exited"}
    documents = {h: load_document(session, h) for h in hashes}
    return _Batch(rows, by_provider, stages, enrollments, documents)


def _outbox(session: Session, column: Any, keys: set[str]) -> dict[str, OutboxRow]:
    """The outbox rows with these ids, without their content."""
    found: dict[str, OutboxRow] = {}
    for chunk in _chunks(sorted(keys), 500):
        for row in session.execute(select(*ENVELOPE).where(column.in_(chunk))):
            found.setdefault(getattr(row, column.key), OutboxRow.from_row(row))
    return found


def _row_of(batch: _Batch, event: InboundEvent) -> OutboxRow | None:
    if event.message_id and event.message_id in batch.rows:
        return batch.rows[event.message_id]
    if event.message_id is None and event.provider_message_id:
        return batch.by_provider_id.get(event.provider_message_id)
    return None


def _talent_of(batch: _Batch, event: InboundEvent) -> object:
    """The talent an event is about; unmatched events stand alone (never quiet)."""
    row = _row_of(batch, event)
    return row.talent_id if row is not None else ("unmatched", event.provider_event_id)


def _quiet(batch: _Batch, event: InboundEvent) -> bool:
    """Whether the event only writes its timeline row (and maybe the engaged move): the
    interpreter's own rule (``moved_by``) says whether it would move the enrollment."""
    row = _row_of(batch, event)
    if row is None or row.status != "sent" or event.kind not in QUIET_KINDS:
        return False
    if row.talent_id not in batch.stages:
        return False
    enrollment = batch.enrollments.get(row.enrollment_id)
    if enrollment is None:
        return False
    if enrollment.status == "exited" or enrollment.step_id is None:
        return True
    sequence = batch.documents[enrollment.content_hash].sequence
    return not machine.moved_by(sequence, state_of(enrollment), branch_event(event, None))


def _engage(session: Session, batch: _Batch, quiet: list[InboundEvent], now: datetime) -> None:
    """First opens and clicks make a talent ``engaged``, as ``apply_event`` does."""
    first: dict[int, InboundEvent] = {}
    for event in quiet:
        row = _row_of(batch, event)
        assert row is not None
        if engages(event) and can_move(batch.stages[row.talent_id], "engaged"):
            first.setdefault(row.talent_id, event)
    if not first:
        return
    for talent in session.scalars(select(Talent).where(Talent.id.in_(first))):
        event = first[talent.id]
        row = _row_of(batch, event)
        assert row is not None
        change_stage(session, talent, "engaged", at=now, reason=event.kind,
                     campaign=row.campaign, enrollment_id=row.enrollment_id)  # fmt: skip


def _row(batch: _Batch, event: InboundEvent) -> dict[str, Any]:
    """The timeline row ``apply_event`` writes, for a quiet event."""
    row = _row_of(batch, event)
    assert row is not None
    return timeline_row(event, row, row.talent_id)


def _chunks(values: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
