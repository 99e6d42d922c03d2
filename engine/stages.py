"""Lifecycle stages of a talent and the moves allowed between them, in one place.

    person -> prospect (contacted) -> engaged (opened/clicked/replied)
           -> candidate (showed interest) -> interviewing -> hired
    any stage -> not_interested (with a re-contact date) | do_not_contact

Every change is written to the talent's timeline.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from engine.models import Talent
from engine.timeline import record
from sequences.errors import InputError
from sequences.model import STAGES

_EXITS = frozenset({"not_interested", "do_not_contact"})
TRANSITIONS: dict[str, frozenset[str]] = {
    "person": frozenset({"prospect", "engaged", "candidate"}) | _EXITS,
    "prospect": frozenset({"engaged", "candidate"}) | _EXITS,
    "engaged": frozenset({"candidate"}) | _EXITS,
    "candidate": frozenset({"interviewing", "hired"}) | _EXITS,
    "interviewing": frozenset({"hired", "candidate"}) | _EXITS,
    "hired": frozenset({"do_not_contact"}),
    "not_interested": frozenset({"person", "prospect", "engaged", "candidate", "do_not_contact"}),
    "do_not_contact": frozenset(),
}
assert set(TRANSITIONS) == set(STAGES)


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def change_stage(
    session: Session,
    talent: Talent,
    target: str,
    *,
    at: datetime,
    reason: str,
    strict: bool = False,
    campaign: str | None = None,
    enrollment_id: int | None = None,
) -> bool:
    """Move ``talent`` to ``target`` and record it; False when the move is not allowed.

    The engine calls this with ``strict=False`` (a click never demotes a candidate); a
    recruiter's explicit change uses ``strict=True`` and gets an InputError instead.
    """
    if target not in TRANSITIONS:
        raise InputError(f"unknown stage {target!r}; expected one of {', '.join(STAGES)}")
    if target == talent.stage or not can_move(talent.stage, target):
        if strict and target != talent.stage:
            raise InputError(f"a talent cannot move from {talent.stage} to {target}")
        return False
    record_change(session, talent.id, talent.stage, target, at=at, reason=reason,
                  campaign=campaign, enrollment_id=enrollment_id)  # fmt: skip
    talent.stage, talent.stage_changed_at, talent.updated_at = target, at, at
    return True


def record_change(
    session: Session,
    talent_id: int,
    current: str,
    target: str,
    *,
    at: datetime,
    reason: str,
    campaign: str | None = None,
    enrollment_id: int | None = None,
) -> None:
    """The timeline row of a stage change (the caller moves the talent)."""
    record(session, "stage_changed", at=at, talent_id=talent_id, campaign=campaign,
           enrollment_id=enrollment_id, detail=f"{current} -> {target} ({reason})",
           data={"from": current, "to": target, "reason": reason})  # fmt: skip
