"""A recruiter at the talent base: the list's filters, finding one person, changing them.

A change made by hand goes through the engine's own rules: a stage moves with
:func:`engine.stages.change_stage` (strict: a move the lifecycle forbids is refused), tags
with the sequence action's ``set_tags``, an opt-out with the webhooks' ``opt_out`` (planned
messages on that channel are withdrawn); each is written on the talent's timeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import CompoundSelect, Select, func, select, union, update
from sqlalchemy.orm import Session

from engine.store.dialect import starts_with
from engine.store.models import Enrollment, OutboxMessage, Talent, TalentLabel
from engine.talents.addresses import find_talent
from engine.talents.moves import change_stage
from engine.talents.timeline import record
from sequences.errors import InputError
from sequences.model import STAGES

BY_HAND = "by hand"  # the reason a recruiter's change carries on the timeline
STOPPED = "stopped"  # the outcome of an enrollment stopped by hand


def talent_query(
    *, stages: Sequence[str] = (), tags: Sequence[str] = (), search: str | None = None
) -> Select[tuple[Talent]]:
    """Talents not erased, oldest first, at one of ``stages``, with every tag of ``tags``,
    and a first name, last name, email or company beginning with ``search`` (case aside),
    or a full name: "maya fisch" finds Maya Fischer, "kiez" Kiezbank's people."""
    unknown = [stage for stage in stages if stage not in STAGES]
    if unknown:
        raise InputError(f"unknown stage {unknown[0]!r}; expected one of {', '.join(STAGES)}")
    query = select(Talent).where(Talent.erased_at.is_(None)).order_by(Talent.id)
    if stages:
        query = query.where(Talent.stage.in_(stages))
    for tag in tags:
        tagged = select(TalentLabel.talent_id).where(
            TalentLabel.kind == "tag", TalentLabel.value == tag.strip().lower()
        )
        query = query.where(Talent.id.in_(tagged))
    text = " ".join((search or "").lower().split())
    if text:
        query = query.where(Talent.id.in_(_starting_with(text)))
    return query


# What a search may begin, each served by an index (migration 0008); emails are stored
# lower-case already.
_FIRST, _LAST = func.lower(Talent.first_name), func.lower(Talent.last_name)
_SEARCHED = (_FIRST, _LAST, Talent.email, func.lower(Talent.company))


def _starting_with(text: str) -> CompoundSelect[tuple[int]]:
    """The ids of talents whose first name, last name, email or company begins with
    ``text``, or, for "maya fisch", whose first name begins with "maya" and last name with
    "fisch": one index range each, unioned (an OR would make the planners scan every row)."""
    found = [select(Talent.id).where(starts_with(column, text)) for column in _SEARCHED]
    first, _, last = text.partition(" ")
    if last:
        found.append(select(Talent.id).where(starts_with(_FIRST, first), starts_with(_LAST, last)))
    return union(*found)


def find_one(session: Session, who: str) -> Talent:
    """The talent with this email or phone, else the one whose name contains ``who``;
    InputError naming the candidates when there are several."""
    if "@" in who or not any(c.isalpha() for c in who):
        return find_talent(session, who)
    found = list(session.scalars(talent_query(search=who).limit(11)))
    if len(found) == 1:
        return found[0]
    if not found:
        raise InputError(f"no talent matches {who!r} (name, email or company)")
    names = "; ".join(f"{t.full_name} <{t.email or t.phone}>" for t in found[:10])
    more = " and more" if len(found) > 10 else ""
    raise InputError(f"{who!r} matches {len(found[:10])} talents{more}: {names}; give the email")


@dataclass(frozen=True)
class Change:
    """What a recruiter asks to change on one talent."""

    stage: str | None = None
    tag: tuple[str, ...] = ()
    untag: tuple[str, ...] = ()
    opt_out: tuple[str, ...] = ()
    opt_in: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.stage or self.tag or self.untag or self.opt_out or self.opt_in)


def set_talent(session: Session, talent: Talent, change: Change, *, now: datetime) -> list[str]:
    """Apply ``change`` to ``talent``; returns what changed, in words."""
    if talent.erased_at is not None:
        raise InputError("this talent was erased; there is nothing left to change")
    both = set(change.opt_out) & set(change.opt_in)
    if both:
        raise InputError(f"--opt-out and --opt-in both name {', '.join(sorted(both))}")
    done: list[str] = []
    if change.stage and change_stage(session, talent, change.stage, at=now, reason=BY_HAND,
                                     strict=True):  # fmt: skip
        done.append(f"stage {change.stage}")
    if change.tag or change.untag:
        done += _tags(session, talent, change, now=now)
    return done + _consent(session, talent, change, now=now)


def _tags(session: Session, talent: Talent, change: Change, *, now: datetime) -> list[str]:
    from engine.enrollments.progress import set_tags

    before = set(talent.tags)
    set_tags(session, talent, _labels(change.tag), _labels(change.untag))
    after = set(talent.tags)
    if after != before:
        talent.updated_at = now
    return [f"+{t}" for t in sorted(after - before)] + [f"-{t}" for t in sorted(before - after)]


def _consent(session: Session, talent: Talent, change: Change, *, now: datetime) -> list[str]:
    from engine.inbound.events import opt_out

    done = []
    for channel in (c for c in change.opt_out if not talent.opted_out(c)):
        withdrawn = opt_out(session, talent, channel, now=now)
        record(session, "opted_out", at=now, talent_id=talent.id, channel=channel,
               detail=BY_HAND, data={"withdrawn": withdrawn})  # fmt: skip
        done.append(f"opted out of {channel} ({withdrawn} planned message(s) withdrawn)")
    for channel in (c for c in change.opt_in if talent.opted_out(c)):
        setattr(talent, f"{channel}_opted_out_at", None)
        talent.updated_at = now
        record(session, "opted_in", at=now, talent_id=talent.id, channel=channel, detail=BY_HAND)
        done.append(f"opted in to {channel}")
    return done


def _labels(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(value.strip().lower() for value in values if value.strip())


def stop_enrollment(
    session: Session, talent: Talent, campaign: str, *, now: datetime
) -> tuple[str | None, int] | None:
    """Exit ``talent``'s active enrollment in ``campaign`` (outcome ``stopped``) and withdraw
    its planned messages; returns (the step it was at, how many were withdrawn), or None
    when there is no such enrollment."""
    from engine.enrollments.progress import exit_enrollment

    active = select(Enrollment).where(
        Enrollment.talent_id == talent.id,
        Enrollment.campaign == campaign,
        Enrollment.status != "exited",
    )
    enrollment = session.scalars(active.with_for_update()).first()
    if enrollment is None:
        return None
    exit_enrollment(session, enrollment, talent, STOPPED, now=now)
    planned = update(OutboxMessage).where(
        OutboxMessage.enrollment_id == enrollment.id, OutboxMessage.status == "planned"
    )
    withdrawn = session.scalars(
        planned.values(status="cancelled", error=f"{STOPPED} {BY_HAND}").returning(OutboxMessage.id)
    ).all()
    return enrollment.step_id, len(withdrawn)
