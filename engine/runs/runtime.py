"""What a campaign run works with: configuration, the workspace, the link key, sequence
snapshots by content hash; and the render context a talent's message is written with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from campaigns.model import Campaign
from campaigns.workspace import Workspace, load_workspace
from engine.config import Config
from engine.core.links import secret_key
from engine.store.models import SequenceSnapshot, Talent
from sequences.document import SequenceDocument
from sequences.errors import InputError


def load_document(session: Session, content_hash: str) -> SequenceDocument:
    """The sequence snapshot stored under ``content_hash``."""
    snapshot = session.get(SequenceSnapshot, content_hash)
    if snapshot is None:
        raise InputError(f"no stored sequence snapshot {content_hash[:12]}")
    return SequenceDocument.from_snapshot(snapshot.document)


@dataclass
class Runtime:
    """Loaded once at the entry point (CLI, flow, web app) and passed down."""

    config: Config
    workspace: Workspace
    secret: bytes
    documents: dict[str, SequenceDocument] = field(default_factory=dict)

    @classmethod
    def load(
        cls, config: Config, workspace: Workspace | None = None, *, dry_run: bool = False
    ) -> Runtime:
        if workspace is None:
            workspace = load_workspace(config.workspace)
        return cls(config, workspace, secret_key(config, create=not dry_run))

    def campaign(self, campaign_id: str) -> Campaign:
        campaign = self.workspace.campaigns.get(campaign_id)
        if campaign is None:
            known = ", ".join(sorted(self.workspace.campaigns)) or "none"
            raise InputError(f"unknown campaign {campaign_id!r} (campaigns: {known})")
        return campaign

    def document(self, session: Session, content_hash: str) -> SequenceDocument:
        if content_hash not in self.documents:
            self.documents[content_hash] = load_document(session, content_hash)
        return self.documents[content_hash]

    def email_domain(self, campaign: Campaign) -> str:
        configured = self.workspace.settings.email_domain
        return configured or str(campaign.sender.email).rpartition("@")[2]


def talent_context(talent: Talent) -> dict[str, Any]:
    """``talent.*`` as templates and guards see it."""
    return {
        "first_name": talent.first_name or "",
        "last_name": talent.last_name or "",
        "full_name": talent.full_name,
        "email": talent.email,
        "phone": talent.phone,
        "company": talent.company or "",
        "title": talent.title or "",
        "city": talent.city or "",
        "country": talent.country or "",
        "timezone": talent.timezone or "",
        "source": talent.source or "",
        "tags": talent.tags,
        "skills": talent.skills,
        "attributes": dict(talent.attributes or {}),
    }


def _company(workspace: Workspace) -> dict[str, Any]:
    company = workspace.settings.company
    return {"name": company.name, "website": company.website or ""}


def render_context(
    rt: Runtime,
    campaign: Campaign,
    talent: Talent,
    *,
    step_id: str | None = None,
    channel: str | None = None,
    unsubscribe: str = "",
) -> dict[str, Any]:
    """The whole context of a message: talent, sender, company, campaign, step, links."""
    return {
        **campaign_context(rt.workspace, campaign, talent),
        "step": {"id": step_id or "", "channel": channel or ""},
        "links": {"unsubscribe": unsubscribe},
    }


def campaign_context(workspace: Workspace, campaign: Campaign, talent: Talent) -> dict[str, Any]:
    """What a talent's guards and tasks see: talent, sender, company, campaign (no message
    yet: empty step and links). A webhook has the workspace but no ``Runtime``."""
    sender = campaign.sender
    return {
        "talent": talent_context(talent),
        "sender": {
            "name": sender.name,
            "first_name": sender.first_name,
            "email": str(sender.email),
            "sms_from": sender.sms_from or "",
            "signature": sender.signature or "",
        },
        "company": _company(workspace),
        "campaign": {"id": campaign.campaign, "name": campaign.name or campaign.campaign},
        "step": {"id": "", "channel": ""},
        "links": {"unsubscribe": ""},
    }
