"""Moving a talent between lifecycle stages (:mod:`engine.core.stages`), on its timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from engine.core.stages import TRANSITIONS, can_move
from engine.store.models import Talent
from engine.talents.timeline import Writes, record
from sequences.errors import InputError
from sequences.model import STAGES


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
    fields = _change(talent.id, talent.stage, target, reason, campaign, enrollment_id)
    record(session, "stage_changed", at=at, **fields)
    talent.stage, talent.stage_changed_at, talent.updated_at = target, at, at
    return True


def record_change(
    writes: Writes,
    talent_id: int,
    current: str,
    target: str,
    *,
    at: datetime,
    reason: str,
    campaign: str | None = None,
    enrollment_id: int | None = None,
) -> None:
    """The timeline row of a stage change, with a batch's rows (the caller moves the
    talent)."""
    fields = _change(talent_id, current, target, reason, campaign, enrollment_id)
    writes.record("stage_changed", at=at, **fields)


def _change(
    talent_id: int,
    current: str,
    target: str,
    reason: str,
    campaign: str | None,
    enrollment_id: int | None,
) -> dict[str, Any]:
    """A stage change's timeline fields, but its time."""
    return {"talent_id": talent_id, "campaign": campaign, "enrollment_id": enrollment_id,
            "detail": f"{current} -> {target} ({reason})",
            "data": {"from": current, "to": target, "reason": reason}}  # fmt: skip
