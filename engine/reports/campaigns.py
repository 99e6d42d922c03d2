"""Each campaign of the workspace at a glance: its sequence, kind, state and enrollments
(``nurture campaigns list`` and the desk's Campaigns page), when its next tick is due, and
its sends and replies per day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from cronsim import CronSim
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

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
    last = _last_activity(session, list(workspace.campaigns))
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
            "last_activity_at": last[campaign_id].isoformat() if last[campaign_id] else None,
        })  # fmt: skip
    return rows


def _last_activity(session: Session, campaigns: list[str]) -> dict[str, Any]:
    """Each campaign's newest timeline row (a tick that did nothing leaves no trace anywhere):
    one seek each in the (campaign, occurred_at) index, in one statement."""
    if not campaigns:
        return {}
    newest = [
        select(func.max(Engagement.occurred_at)).where(Engagement.campaign == name)
        for name in campaigns
    ]
    found = session.execute(select(*(query.scalar_subquery() for query in newest))).one()
    return dict(zip(campaigns, found, strict=True))


def next_tick(schedule: Schedule, now: datetime) -> datetime:
    """When ``nurture serve`` next runs a tick: the cron read in the schedule's zone, in UTC."""
    local = now.astimezone(ZoneInfo(schedule.timezone)).replace(second=0, microsecond=0)
    return next(CronSim(schedule.cron, local)).astimezone(UTC)


def per_day(
    session: Session, campaigns: list[str], now: datetime, days: int = 30
) -> dict[str, dict[str, list[int]]]:
    """Each campaign's messages sent and replies received per UTC day, the last ``days`` days
    up to today, oldest first: ``{campaign: {"sent": [...], "replied": [...]}}``.

    A statement per campaign of a count per kind and day, each a range of the (campaign,
    kind, occurred_at) index: grouping by a day computed from every row sorted them all
    (ten times slower on SQLite with 100,000 sends in the window)."""
    first = datetime.combine(now.astimezone(UTC).date(), datetime.min.time(), UTC)
    first -= timedelta(days=days - 1)
    bounds = [first + timedelta(days=day) for day in range(days + 1)]
    found = {}
    for campaign in campaigns:
        counts = [
            select(func.count())
            .where(Engagement.campaign == campaign, Engagement.kind == kind)
            .where(Engagement.occurred_at >= bounds[day], Engagement.occurred_at < bounds[day + 1])
            .scalar_subquery()
            for kind in PER_DAY
            for day in range(days)
        ]
        row = [int(count) for count in session.execute(select(*counts)).one()]
        found[campaign] = {kind: row[i * days : (i + 1) * days] for i, kind in enumerate(PER_DAY)}
    return found
