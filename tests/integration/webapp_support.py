"""Helpers for the webhook app tests: a configured app, signed provider requests, row counts.

Imported by the ``test_webapp_*`` modules (pytest puts this folder on ``sys.path``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from channels.sendgrid import event_webhook_public_key, sign_event_webhook
from channels.twilio import sign_request
from engine.config import Config
from engine.core.clock import Clock
from engine.store.database import Database
from engine.store.models import (
    Engagement,
    Enrollment,
    OutboxMessage,
    SequenceSnapshot,
    Suppression,
    Talent,
    Task,
)
from engine.web.app import create_app

REPO = Path(__file__).resolve().parents[2]
PUBLIC_URL = "https://hooks.acme.example"
INBOUND_SECRET = "s3cret-inbound-path"
INBOUND_DOMAIN = "reply.acme.example"
TWILIO_TOKEN = "twilio-auth-token-123"
API_KEY = "api-key-456"
SIGNING_KEY = ec.generate_private_key(ec.SECP256R1())  # SendGrid's side, generated per run
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())


def workspace(tmp_path: Path, example: bool = False) -> Path:
    """An empty workspace folder, or a copy of the example recruiting workspace."""
    root = tmp_path / "workspace"
    if example:
        shutil.copytree(REPO / "examples" / "recruiting", root)
    else:
        root.mkdir()
    return root


def config(root: Path, db_url: str, **overrides: str) -> Config:
    env = {
        "NURTURE_DATABASE_URL": db_url,
        "NURTURE_PUBLIC_URL": PUBLIC_URL,
        "NURTURE_SECRET_KEY": "unsubscribe-signing-key-for-tests",
        "SENDGRID_WEBHOOK_PUBLIC_KEY": event_webhook_public_key(SIGNING_KEY),
        "NURTURE_INBOUND_SECRET": INBOUND_SECRET,
        "NURTURE_INBOUND_DOMAIN": INBOUND_DOMAIN,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "NURTURE_API_KEY": API_KEY,
    }
    env.update(overrides)
    return Config.load(root, env={k: v for k, v in env.items() if v})


def client(cfg: Config, db: Database, clock: Clock, **options: Any) -> httpx.AsyncClient:
    app = create_app(cfg, db, clock, **options)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL)


# --- SendGrid ----------------------------------------------------------------------------


def sg_event(kind: str, event_id: str, at: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "event": kind,
        "sg_event_id": event_id,
        "sg_message_id": f"sg-{event_id}.filter0001",
        "timestamp": int(at.timestamp()),
        "email": fields.pop("email", "maya@example.net"),
        **fields,
    }


def signed_batch(
    events: Any, at: datetime, key: ec.EllipticCurvePrivateKey = SIGNING_KEY
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(events).encode() if not isinstance(events, bytes) else events
    headers = sign_event_webhook(body, key, str(int(at.timestamp())))
    return body, {**headers, "Content-Type": "application/json"}


def inbound_files(
    *,
    sender: str = "Maya Keller <maya@example.net>",
    to: str = f"reply@{INBOUND_DOMAIN}",
    text: str = "Yes, happy to chat!",
    subject: str = "Re: A question",
    message_id: str = "<reply-1@mail.example.net>",
    extra_headers: Mapping[str, str] | None = None,
    **fields: str,
) -> dict[str, tuple[None, str]]:
    """The multipart form fields SendGrid Inbound Parse posts (parsed mode)."""
    header_lines = {
        "From": sender,
        "To": to,
        "Subject": subject,
        "Message-ID": message_id,
        "Date": "Mon, 02 Mar 2026 10:00:00 +0100",
        **(extra_headers or {}),
    }
    form = {
        "headers": "".join(f"{k}: {v}\n" for k, v in header_lines.items()),
        "from": sender,
        "to": to,
        "subject": subject,
        "text": text,
        "envelope": json.dumps({"to": [to], "from": parseaddr(sender)[1]}),
        "charsets": json.dumps({"text": "UTF-8"}),
        # SendGrid's checks of the sender: a real mailbox's mail passes both.
        "SPF": "pass",
        "dkim": f"{{@{parseaddr(sender)[1].rpartition('@')[2]} : pass}}",
        **fields,
    }
    return {name: (None, value) for name, value in form.items()}


# --- Twilio ------------------------------------------------------------------------------


def twilio_post(
    path: str, params: Mapping[str, str], token: str = TWILIO_TOKEN, url: str | None = None
) -> dict[str, Any]:
    """Keyword arguments for ``client.post``: the form and its X-Twilio-Signature."""
    signature = sign_request(url or f"{PUBLIC_URL}{path}", params, token)
    return {"data": dict(params), "headers": {"X-Twilio-Signature": signature}}


def sms(sid: str, body: str, sender: str = "+4915112340000") -> dict[str, str]:
    return {
        "MessageSid": sid,
        "AccountSid": "AC123",
        "From": sender,
        "To": "+4915112345678",
        "Body": body,
        "NumMedia": "0",
    }


# --- the database ------------------------------------------------------------------------

MODELS = (Engagement, Talent, Task, Suppression, Enrollment, OutboxMessage)


def counts(db: Database) -> dict[str, int]:
    """Rows per table: compared before and after a rejected request."""
    with db.session() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in MODELS
        }


def engagements(db: Database, **where: Any) -> list[Engagement]:
    with db.session() as session:
        query = select(Engagement).filter_by(**where).order_by(Engagement.id)
        return list(session.scalars(query))


def add_talent(db: Database, at: datetime, **fields: Any) -> int:
    with db.session() as session:
        talent = Talent(created_at=at, updated_at=at, links={}, attributes={}, **fields)
        session.add(talent)
        session.flush()
        return talent.id


def add_sent_sms(db: Database, talent_id: int, to: str, at: datetime) -> None:
    """A text we sent ``to`` this talent, in an enrollment since finished: a reply from
    that number is then verified (Twilio signs the number, and we wrote to it)."""
    with db.session() as session:
        session.add(SequenceSnapshot(content_hash="s" * 64, sequence="s", document={},
                                     created_at=at))  # fmt: skip
        session.flush()
        enrollment = Enrollment(talent_id=talent_id, campaign="c", sequence="s",
                                content_hash="s" * 64, kind="outbound", status="exited",
                                step_id="text", entered_at=at, updated_at=at)  # fmt: skip
        session.add(enrollment)
        session.flush()
        session.add(OutboxMessage(message_id="sms1", enrollment_id=enrollment.id,
                                  talent_id=talent_id, campaign="c", step_id="text",
                                  channel="sms", to=to, sender="+4915112345678", text="Hi",
                                  status="sent", due_at=at, sent_at=at, created_at=at))  # fmt: skip


def talent(db: Database, talent_id: int) -> Talent:
    with db.session() as session:
        found = session.get(Talent, talent_id)
        assert found is not None
        return found


async def chunks(body: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """The body streamed in pieces, without a Content-Length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]
