"""Twilio's settings, and the environment variables the engine fills them from."""

from __future__ import annotations

from pydantic import Field, SecretStr

from channels.base import ChannelSettings


class TwilioSettings(ChannelSettings):
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


ENVIRONMENT = {
    "account_sid": "TWILIO_ACCOUNT_SID",
    "auth_token": "TWILIO_AUTH_TOKEN",
    "base_url": "NURTURE_TWILIO_BASE_URL",
}
"""The variable each setting is read from (documented in ``engine.config.ENVIRONMENT``)."""
