"""Each campaign of the workspace at a glance: its sequence, kind, state and enrollments
(``nurture campaigns list`` and the desk's Campaigns page), when its next tick is due, and
its sends and replies per day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from cronsim import CronSim
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from engine.store.dialect import day_of
from engine.store.models import CampaignState, Engagement, Enrollment

if TYPE_CHECKING:
    from campaigns.model import Schedule
    from campaigns.workspace import Workspace

PER_DAY = ("sent", "replied")  # the kinds the per-day chart counts


def campaign_overview(session: Session, workspace: Workspace) -> list[dict[str, Any]]:
    """One row per campaign of the workspace, with its counts from the talent base."""
    active = func.sum(case((Enrollment.status != "exited", 1), else_=0))
    by_campaign = select(Enrollment.campaign, func.count(), active).group_by(Enrollment.campaign)
    counts = {c: (n, a or 0) for c, n, a in session.execute(by_campaign)}
    # The timeline's newest row: a tick that did nothing leaves no trace anywhere.
    newest = select(Engagement.campaign, func.max(Engagement.occurred_at))
    last: dict[str | None, Any] = {
        c: at for c, at in session.execute(newest.group_by(Engagement.campaign))
    }
    states = {s.campaign: s for s in session.scalars(select(CampaignState))}
    rows = []
    for campaign_id, campaign in sorted(workspace.campaigns.items()):
        state = states.get(campaign_id)
        paused = state is not None and state.paused
        enrolled, running = counts.get(campaign_id, (0, 0))
        rows.append({
            "campaign": campaign_id, "sequence": campaign.sequence,
            "kind": workspace.sequences[campaign.sequence].sequence.kind,
            "status": "paused" if paused else "running",
            "reason": (state.reason or "paused") if paused and state else None,
            "enrolled": enrolled, "active": int(running),
            "last_activity_at": last[campaign_id].isoformat() if campaign_id in last else None,
        })  # fmt: skip
    return rows


def next_tick(schedule: Schedule, now: datetime) -> datetime:
    """When ``nurture serve`` next runs a tick: the cron read in the schedule's zone, in UTC."""
    local = now.astimezone(ZoneInfo(schedule.timezone)).replace(second=0, microsecond=0)
    return next(CronSim(schedule.cron, local)).astimezone(UTC)


def per_day(session: Session, now: datetime, days: int = 30) -> dict[str, dict[str, list[int]]]:
    """Each campaign's messages sent and replies received per UTC day, the last ``days`` days
    up to today, oldest first: ``{campaign: {"sent": [...], "replied": [...]}}``. One query."""
    first = now.astimezone(UTC).date() - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), UTC)
    day = day_of(Engagement.occurred_at)
    query = (
        select(Engagement.campaign, day, Engagement.kind, func.count())
        .where(Engagement.campaign.is_not(None), Engagement.kind.in_(PER_DAY))
        .where(Engagement.occurred_at >= since)
        .group_by(Engagement.campaign, day, Engagement.kind)
    )
    found: dict[str, dict[str, list[int]]] = {}
    for campaign, when, kind, count in session.execute(query):
        index = (date.fromisoformat(when) - first).days
        if 0 <= index < days:  # a time in the future (a clock skew) is left out
            series = found.setdefault(campaign, {k: [0] * days for k in PER_DAY})
            series[kind][index] = int(count)
    return found
