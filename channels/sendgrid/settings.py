"""SendGrid's settings, and the environment variables the engine fills them from."""

from __future__ import annotations

from pydantic import Field, SecretStr

from channels.base import ChannelSettings


class SendgridSettings(ChannelSettings):
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


ENVIRONMENT = {
    "api_key": "SENDGRID_API_KEY",
    "base_url": "NURTURE_SENDGRID_BASE_URL",
    "inbound_domain": "NURTURE_INBOUND_DOMAIN",
    "webhook_public_key": "SENDGRID_WEBHOOK_PUBLIC_KEY",
}
"""The variable each setting is read from (documented in ``engine.config.ENVIRONMENT``)."""
