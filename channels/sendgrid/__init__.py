"""SendGrid email: ``send`` (v3 Mail Send), ``webhooks`` (the signed Event Webhook and
Inbound Parse), ``settings`` (``SendgridSettings`` and the variables that fill them)."""

from __future__ import annotations

from channels.sendgrid.send import SendgridChannel, build_payload, classify
from channels.sendgrid.settings import SendgridSettings
from channels.sendgrid.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    event_webhook_public_key,
    inbound_form,
    parse_events,
    parse_inbound,
    sign_event_webhook,
    verify_event_webhook,
)

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "SendgridChannel",
    "SendgridSettings",
    "build_payload",
    "classify",
    "event_webhook_public_key",
    "inbound_form",
    "parse_events",
    "parse_inbound",
    "sign_event_webhook",
    "verify_event_webhook",
]
