"""What a step is rendered with when previewed: the sample (or a chosen) talent, the
workspace's company, and the sender of a campaign that sends the sequence
(``nurture preview`` and the desk's Sequence page)."""

from __future__ import annotations

from typing import Any

from campaigns.workspace import Workspace
from sequences.errors import InputError


def preview_context(
    workspace: Workspace, context: dict[str, Any], sequence_id: str, campaign_id: str | None
) -> dict[str, Any]:
    """``context`` with the company, and the sender and campaign of ``campaign_id`` (else
    the first campaign sending ``sequence_id``); InputError when that campaign sends
    another sequence."""
    company = workspace.settings.company
    if company.name:
        context["company"] = {"name": company.name, "website": company.website or ""}
    using = [c for c in workspace.campaigns.values() if c.sequence == sequence_id]
    chosen = next((c for c in using if c.campaign == campaign_id), using[0] if using else None)
    if campaign_id is not None and (chosen is None or chosen.campaign != campaign_id):
        raise InputError(f"no campaign {campaign_id!r} sends sequence {sequence_id!r}")
    if chosen is not None:
        sender = chosen.sender
        context["sender"] = {
            "name": sender.name,
            "first_name": sender.first_name,
            "email": str(sender.email),
            "sms_from": sender.sms_from or "",
            "signature": sender.signature or "",
        }
        context["campaign"] = {"id": chosen.campaign, "name": chosen.name or chosen.campaign}
    return context
