"""Recruiter to-dos: task steps (call, LinkedIn message) and follow-ups of interested replies.

Completing a task records ``task_completed`` and, when it belongs to a waiting enrollment,
fires the step's ``completed`` event (its branch, or the step's next branch).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core import interpreter as machine
from engine.enrollments.progress import Sends, step_enrollment
from engine.store.models import Enrollment, Talent, Task
from engine.talents.timeline import record
from sequences.errors import InputError


@dataclass(frozen=True)
class TaskView:
    """A task as the recruiter's list shows it: what to do, for whom, and how to reach them."""

    id: int
    title: str
    body: str | None
    due_at: datetime | None
    completed_at: datetime | None
    campaign: str | None
    step_id: str | None
    enrollment_id: int | None
    talent_id: int | None
    talent: str  # the name, else the address; empty once erased
    email: str | None
    phone: str | None

    @classmethod
    def from_row(cls, task: Task, talent: Talent | None) -> TaskView:
        name = (talent.full_name or talent.email or talent.phone or "") if talent else ""
        return cls(
            id=task.id, title=task.title, body=task.body, due_at=task.due_at,
            completed_at=task.completed_at, campaign=task.campaign, step_id=task.step_id,
            enrollment_id=task.enrollment_id, talent_id=task.talent_id, talent=name,
            email=talent.email if talent else None, phone=talent.phone if talent else None,
        )  # fmt: skip

    def as_json(self) -> dict[str, Any]:
        fields = dataclasses.asdict(self)
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in fields.items()}


def open_tasks(session: Session, *, include_done: bool = False) -> list[TaskView]:
    """Open tasks (all with ``include_done``), the soonest due first, undated last."""
    query = (
        select(Task, Talent)
        .outerjoin(Talent, Talent.id == Task.talent_id)
        .order_by(Task.due_at.is_(None), Task.due_at, Task.id)
    )
    if not include_done:
        query = query.where(Task.completed_at.is_(None))
    return [TaskView.from_row(task, talent) for task, talent in session.execute(query)]


def complete_task(session: Session, task_id: int, *, now: datetime, sends: Sends) -> Task:
    """Mark a task done and let its enrollment move on (a send step it reaches does what
    ``sends`` says); InputError for an unknown or completed task."""
    task = session.get(Task, task_id)
    if task is None:
        raise InputError(f"no task {task_id}")
    if task.completed_at is not None:
        raise InputError(f"task {task_id} was already completed on {task.completed_at:%Y-%m-%d}")
    task.completed_at = now
    enrollment = session.get(Enrollment, task.enrollment_id) if task.enrollment_id else None
    record(session, "task_completed", at=now, talent_id=task.talent_id, enrollment=enrollment,
           step_id=task.step_id, channel="task", data={"task_id": task.id})  # fmt: skip
    talent = session.get(Talent, task.talent_id) if task.talent_id else None
    if (
        enrollment
        and talent
        and enrollment.status == "waiting"
        and enrollment.step_id == task.step_id
    ):
        step_enrollment(session, enrollment, talent, machine.Event("completed"), now=now,
                        sends=sends)  # fmt: skip
    return task
