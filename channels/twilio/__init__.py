"""Twilio SMS and WhatsApp: ``send`` (the ``twilio`` Client over httpx), ``webhooks``
(inbound messages and status callbacks), ``settings`` (``TwilioSettings`` and the variables
that fill them)."""

from __future__ import annotations

from channels.twilio.send import HttpxTwilioClient, TwilioChannel, classify, status_callback
from channels.twilio.settings import TwilioSettings
from channels.twilio.webhooks import (
    parse_inbound_message,
    parse_status,
    sign_request,
    verify_request,
)

__all__ = [
    "HttpxTwilioClient",
    "TwilioChannel",
    "TwilioSettings",
    "classify",
    "parse_inbound_message",
    "parse_status",
    "sign_request",
    "status_callback",
    "verify_request",
]
