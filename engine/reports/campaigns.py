"""Each campaign of the workspace at a glance: its sequence, kind, state and enrollments
(``nurture campaigns list`` and the desk's Campaigns page)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from engine.store.models import CampaignState, Engagement, Enrollment

if TYPE_CHECKING:
    from campaigns.workspace import Workspace


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
