"""Provider settings: frozen pydantic models, secrets as ``SecretStr``.

The engine reads the environment once (``engine.config``) and builds these; channels never
read the environment themselves.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SendgridSettings(_Settings):
    """SendGrid v3 Mail Send plus the Event Webhook and Inbound Parse."""

    api_key: SecretStr
    base_url: str = "https://api.sendgrid.com"
    inbound_domain: str | None = None  # Reply-To: reply+<token>@<inbound_domain>
    webhook_public_key: str | None = None  # base64 DER (as SendGrid shows it) or PEM
    track_opens: bool = True
    track_clicks: bool = True
    sandbox: bool = False
    concurrency: int = Field(default=50, ge=1)
    timeout: float = Field(default=10.0, gt=0)
    max_retries: int = Field(default=3, ge=0)
    max_retry_wait: float = Field(default=30.0, ge=0)  # a longer Retry-After is left to the engine


class TwilioSettings(_Settings):
    """Twilio Programmable Messaging: SMS and WhatsApp."""

    account_sid: str
    auth_token: SecretStr
    base_url: str | None = None  # NURTURE_TWILIO_BASE_URL: a local fake provider
    status_callback_url: str | None = None  # {NURTURE_PUBLIC_URL}/webhooks/twilio/status
    messaging_service_sid: str | None = None  # used when a message names none
    concurrency: int = Field(default=20, ge=1)
    timeout: float = Field(default=10.0, gt=0)
    max_retries: int = Field(default=3, ge=0)
    max_retry_wait: float = Field(default=30.0, ge=0)


class FileSettings(_Settings):
    """The development channel: messages become files in the workspace's ``outbox/``."""

    directory: Path
    inbound_domain: str | None = None
