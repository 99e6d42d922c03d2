"""Configuration, read once at the entry point and passed down; never a module global."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from sequences.errors import InputError

ENVIRONMENT: tuple[tuple[str, str], ...] = (
    ("NURTURE_WORKSPACE", "the recruiter workspace folder (default: the current folder)"),
    (
        "NURTURE_DATABASE_URL",
        "SQLAlchemy URL (`postgres://` works); default: SQLite in the workspace",
    ),
    (
        "NURTURE_PUBLIC_URL",
        "public base URL of the webhook app (links, Twilio signatures); "
        "required to send through SendGrid or Twilio",
    ),
    ("NURTURE_API_KEY", "bearer key for `/api/*`"),
    ("NURTURE_SECRET_KEY", "key signing unsubscribe links (default: `<workspace>/.nurture/`)"),
    ("SENDGRID_API_KEY", "SendGrid sending key"),
    ("SENDGRID_WEBHOOK_PUBLIC_KEY", "SendGrid Event Webhook signature verification key"),
    ("NURTURE_INBOUND_DOMAIN", "reply-to domain routed to SendGrid Inbound Parse"),
    ("NURTURE_INBOUND_SECRET", "shared secret in the Inbound Parse webhook URL"),
    ("TWILIO_ACCOUNT_SID", "Twilio account"),
    ("TWILIO_AUTH_TOKEN", "Twilio auth token: sending and webhook signatures"),
    ("NURTURE_SENDGRID_BASE_URL", "SendGrid API base URL (a local fake provider)"),
    ("NURTURE_TWILIO_BASE_URL", "Twilio API base URL (a local fake provider)"),
    ("NURTURE_EMAIL_CHANNEL", "`sendgrid` or `file` (default: sendgrid when a key is set)"),
    ("NURTURE_SMS_CHANNEL", "`twilio` or `file` (default: twilio when a token is set)"),
    (
        "NURTURE_TICK_SHARDS",
        "shards that plan and send a tick (default 1): flow runs on the tick's work pool, "
        "else local processes; `NURTURE_TICK_PROCESSES` is its old name",
    ),
)
"""Every variable nurture reads, with its meaning (docs/reference is generated from it)."""


def _secret(env: Mapping[str, str], name: str) -> SecretStr | None:
    value = env.get(name)
    return SecretStr(value) if value else None


def _database_url(env: Mapping[str, str], workspace: Path) -> str:
    """``NURTURE_DATABASE_URL``, else the workspace's SQLite file.

    ``postgresql://`` and Heroku-style ``postgres://`` (what hosting providers hand out)
    name psycopg 3, the driver nurture installs; SQLAlchemy would reach for psycopg2."""
    url = env.get("NURTURE_DATABASE_URL") or f"sqlite:///{workspace / 'nurture.db'}"
    scheme, separator, rest = url.partition("://")
    if separator and scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg://{rest}"
    return url


def _count(env: Mapping[str, str], name: str) -> int:
    value = (env.get(name) or "1").strip()
    if not value.isdigit() or int(value) < 1:
        raise InputError(f"{name} must be a whole number of at least 1, not {value!r}")
    return int(value)


def _named(env: Mapping[str, str], name: str, old: str) -> str:
    """``name``, or its ``old`` name when only that one is set (environment files of before)."""
    return old if old in env and name not in env else name


@dataclass(frozen=True)
class Config:
    """Everything the process needs to know, from ``--workspace`` and the environment."""

    workspace: Path
    database_url: str
    public_url: str = "http://127.0.0.1:8000"
    public_url_set: bool = False  # False: the local default above, which no talent can reach
    api_key: SecretStr | None = None
    sendgrid_webhook_public_key: str | None = None
    inbound_domain: str | None = None
    inbound_secret: SecretStr | None = None
    twilio_auth_token: SecretStr | None = None
    email_channel: str = "file"
    sms_channel: str = "file"
    tick_shards: int = 1
    env: Mapping[str, str] = field(default_factory=dict, repr=False)  # channels read their own

    @classmethod
    def load(cls, workspace: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
        env = dict(os.environ if env is None else env)
        root = (workspace or Path(env.get("NURTURE_WORKSPACE") or ".")).resolve()
        return cls(
            workspace=root,
            database_url=_database_url(env, root),
            public_url=(env.get("NURTURE_PUBLIC_URL") or cls.public_url).rstrip("/"),
            public_url_set=bool(env.get("NURTURE_PUBLIC_URL")),
            api_key=_secret(env, "NURTURE_API_KEY"),
            sendgrid_webhook_public_key=env.get("SENDGRID_WEBHOOK_PUBLIC_KEY") or None,
            inbound_domain=env.get("NURTURE_INBOUND_DOMAIN") or None,
            inbound_secret=_secret(env, "NURTURE_INBOUND_SECRET"),
            twilio_auth_token=_secret(env, "TWILIO_AUTH_TOKEN"),
            email_channel=env.get("NURTURE_EMAIL_CHANNEL")
            or ("sendgrid" if env.get("SENDGRID_API_KEY") else "file"),
            sms_channel=env.get("NURTURE_SMS_CHANNEL")
            or ("twilio" if env.get("TWILIO_AUTH_TOKEN") else "file"),
            tick_shards=_count(env, _named(env, "NURTURE_TICK_SHARDS", "NURTURE_TICK_PROCESSES")),
            env=env,
        )
