"""SendGrid email: v3 Mail Send built with the ``sendgrid`` helpers, POSTed with httpx.

Webhooks (the signed Event Webhook and Inbound Parse) live in
:mod:`channels.sendgrid.webhooks`.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any, ClassVar, TypeVar

import httpx
from sendgrid.helpers.mail import (
    Category,
    ClickTracking,
    Content,
    CustomArg,
    Email,
    From,
    Header,
    Mail,
    MailSettings,
    OpenTracking,
    ReplyTo,
    SandBoxMode,
    SubscriptionTracking,
    To,
    TrackingSettings,
)
from sendgrid.helpers.mail.exceptions import SendGridException

from channels.base import ChannelConfig, ChannelName, OutboundMessage
from channels.email_headers import list_unsubscribe_headers, reply_to_address
from channels.errors import ChannelConfigError, PermanentError, TransientError
from channels.retry import (
    Clock,
    RetryingChannel,
    Sent,
    retry_after,
    utcnow,
)
from channels.sendgrid.settings import ENVIRONMENT, SendgridSettings
from channels.transport import transport_error

_E = TypeVar("_E", bound=Email)
_RECIPIENT_FIELD = re.compile(r"personalizations\.\d+\.(?:to|cc|bcc)\.\d+\.email")


def _custom_args(message: OutboundMessage) -> list[CustomArg]:
    values = {
        "message_id": message.message_id,
        "enrollment_id": message.enrollment_id,
        "campaign": message.campaign,
        "step_id": message.step_id,
    }
    return [CustomArg(key, str(value)) for key, value in values.items() if value is not None]


def _categories(message: OutboundMessage) -> list[Category]:
    if message.campaign is None:
        return []
    names = [message.campaign]
    if message.step_id is not None:
        names.append(f"{message.campaign}:{message.step_id}")
    return [Category(name) for name in reversed(names)]  # the helper prepends each one


def _settings_parts(settings: SendgridSettings) -> tuple[TrackingSettings, MailSettings]:
    tracking = TrackingSettings()
    tracking.click_tracking = ClickTracking(settings.track_clicks, False)
    tracking.open_tracking = OpenTracking(settings.track_opens)
    tracking.subscription_tracking = SubscriptionTracking(False)  # our own List-Unsubscribe
    mail_settings = MailSettings()
    if settings.sandbox:
        mail_settings.sandbox_mode = SandBoxMode(True)
    return tracking, mail_settings


def _address(kind: type[_E], address: str, name: str | None) -> _E:
    """``kind(address, name)``, without the helper's ``parseaddr`` of an address given with
    no name: ours are bare addresses, validated on import, so parsing each one again on
    every message is wasted work (the largest part of building the payload)."""
    email: _E = kind(None, name)
    email.email = address
    return email


def build_payload(message: OutboundMessage, settings: SendgridSettings) -> dict[str, Any]:
    """The v3 Mail Send JSON for one message (ValueError when it cannot be an email)."""
    if message.channel != "email" or not message.subject:
        raise ValueError(f"message {message.message_id} is not an email with a subject")
    sender = _address(From, message.sender, message.sender_name)
    mail = Mail(sender, _address(To, message.to, None), message.subject)
    mail.content = Content("text/plain", message.text)
    if message.html:
        mail.content = Content("text/html", message.html)
    if message.reply_token and settings.inbound_domain:
        address = reply_to_address(message.reply_token, settings.inbound_domain)
        mail.reply_to = ReplyTo(address, message.sender_name)
    unsubscribe = list_unsubscribe_headers(
        message.unsubscribe_url, message.reply_token, settings.inbound_domain
    )
    headers = {**message.headers, **unsubscribe}
    mail.header = [Header(key, value) for key, value in headers.items()]
    mail.custom_arg = _custom_args(message)
    mail.category = _categories(message)
    mail.tracking_settings, mail.mail_settings = _settings_parts(settings)
    payload: dict[str, Any] = mail.get()
    return payload


def _error_text(response: httpx.Response) -> tuple[str, str]:
    """``(message, field)`` of SendGrid's first error, or the raw body."""
    try:
        first = response.json()["errors"][0]
        return str(first.get("message") or ""), str(first.get("field") or "")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return response.text[:200], ""


def classify(response: httpx.Response, now: Clock = utcnow) -> Sent:
    """The provider id of an accepted send; otherwise the channel error it means."""
    status = response.status_code
    if status in (200, 202):
        return Sent(response.headers.get("X-Message-Id"))
    text, field = _error_text(response)
    where = f"SendGrid HTTP {status}: {text}"
    if status in (401, 403):
        raise ChannelConfigError(f"{where} (check SENDGRID_API_KEY and the sender identity)")
    if status == 429 or status >= 500:
        wait = retry_after(response.headers, now())
        raise TransientError(where, code=str(status), retry_after=wait)
    if _RECIPIENT_FIELD.fullmatch(field) or "valid address" in text.lower():
        raise PermanentError(where, code="invalid_address")
    if field.startswith(("from", "reply_to")):
        raise ChannelConfigError(f"{where} (field {field})")
    raise PermanentError(where, code=str(status))


class SendgridChannel(RetryingChannel[SendgridSettings]):
    """Email through SendGrid v3 Mail Send; ``send`` never raises for one message."""

    name: ClassVar[str] = "sendgrid"
    title: ClassVar[str] = "SendGrid"
    serves: ClassVar[frozenset[ChannelName]] = frozenset({"email"})
    settings_model: ClassVar[type[SendgridSettings]] = SendgridSettings
    setup_url: ClassVar[str] = "docs/how-to/sendgrid.md"
    needs_public_url: ClassVar[bool] = True  # unsubscribe links point at the webhook app

    @cached_property
    def _url(self) -> str:
        return f"{self.settings.base_url.rstrip('/')}/v3/mail/send"

    @cached_property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.api_key.get_secret_value()}"}

    @classmethod
    def from_config(cls, config: ChannelConfig) -> SendgridChannel:
        return cls(config.settings(cls, SendgridSettings, ENVIRONMENT))

    async def _send_one(self, message: OutboundMessage) -> Sent:
        try:
            payload = build_payload(message, self.settings)
        except (ValueError, TypeError, SendGridException) as exc:  # e.g. an API key in the text
            raise PermanentError(f"cannot build the email: {exc}", code="payload") from exc
        try:
            response = await self._http.post(self._url, json=payload, headers=self._auth)
        except httpx.TransportError as exc:
            raise transport_error("SendGrid", exc) from exc
        return classify(response, self._clock)
