"""Twilio SMS and WhatsApp: the real ``twilio`` Client over an httpx-backed HTTP client.

The HTTP client is :class:`HttpxTwilioClient`, a ``twilio.http.AsyncHttpClient`` on an
injected ``httpx.AsyncClient``: respx sees every request, and ``base_url``
(``NURTURE_TWILIO_BASE_URL``) points the whole client at a local fake provider.
Webhooks (inbound messages, status callbacks) live in :mod:`channels.twilio.webhooks`.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from datetime import datetime
from functools import cached_property
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http import AsyncHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.rest import Client

from channels.base import (
    ChannelConfig,
    ChannelName,
    OutboundMessage,
)
from channels.errors import (
    ChannelConfigError,
    PermanentError,
    TransientError,
)
from channels.retry import (
    RetryingChannel,
    Sent,
    retry_after,
)
from channels.transport import transport_error
from channels.twilio.settings import ENVIRONMENT, TwilioSettings

WHATSAPP = "whatsapp:"
_OPT_OUT = {21610}  # the recipient replied STOP
_INVALID_RECIPIENT = {21211, 21217, 21612, 21614, 63024}
_CONFIGURATION = {20003, 20404, 21212, 21606, 21659, 21701, 21702, 21703, 63007}
_TRANSIENT = {20429, 20500, 20503}

_last_headers: ContextVar[httpx.Headers | None] = ContextVar("twilio_last_headers", default=None)


class HttpxTwilioClient(AsyncHttpClient):  # type: ignore[misc]
    """Twilio's async HTTP client interface on httpx, optionally rebased on a local server."""

    def __init__(self, client: httpx.AsyncClient, base_url: str | None, timeout: float) -> None:
        super().__init__(logging.getLogger("twilio.http_client"), True, timeout)
        self._client = client
        self._base = urlsplit(base_url.rstrip("/")) if base_url else None

    def rebase(self, url: str) -> str:
        if self._base is None:
            return url
        parts = urlsplit(url)
        path = self._base.path + parts.path
        return urlunsplit((self._base.scheme, self._base.netloc, path, parts.query, ""))

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (Twilio's interface)
        allow_redirects: bool = False,
    ) -> TwilioResponse:
        response = await self._client.request(
            method,
            self.rebase(url),
            params=params,  # type: ignore[arg-type]
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout or self.timeout,
            follow_redirects=allow_redirects,
        )
        _last_headers.set(response.headers)
        return TwilioResponse(response.status_code, response.text, response.headers)


def _address(channel: ChannelName, number: str) -> str:
    if channel == "whatsapp" and not number.startswith(WHATSAPP):
        return WHATSAPP + number
    return number


def status_callback(base: str | None, message_id: str) -> str | None:
    """Our StatusCallback URL, carrying our message id as the ``message_id`` parameter."""
    if base is None:
        return None
    separator = "&" if urlsplit(base).query else "?"
    return f"{base}{separator}{urlencode({'message_id': message_id})}"


def classify(exc: TwilioRestException | TwilioServiceException, now: datetime) -> Exception:
    """The channel error a Twilio API error means."""
    status, code = int(exc.status), int(exc.code or exc.status)
    text = getattr(exc, "msg", None) or getattr(exc, "detail", None) or getattr(exc, "title", "")
    where = f"Twilio error {code} (HTTP {status}): {text}"
    if code in _OPT_OUT:
        return PermanentError(where, code=str(code), opt_out=True)
    if code in _CONFIGURATION or status in (401, 403):
        hint = "check TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and the sender"
        return ChannelConfigError(f"{where} ({hint})")
    if code in _TRANSIENT or status == 429 or status >= 500:
        headers = _last_headers.get() or httpx.Headers()
        return TransientError(where, code=str(code), retry_after=retry_after(headers, now))
    return PermanentError(where, code=str(code))


class TwilioChannel(RetryingChannel[TwilioSettings]):
    """SMS and WhatsApp through Twilio Programmable Messaging."""

    name: ClassVar[str] = "twilio"
    title: ClassVar[str] = "Twilio"
    serves: ClassVar[frozenset[ChannelName]] = frozenset({"sms", "whatsapp"})
    settings_model: ClassVar[type[TwilioSettings]] = TwilioSettings
    setup_url: ClassVar[str] = "docs/how-to/twilio.md"
    needs_public_url: ClassVar[bool] = True  # Twilio posts delivery statuses back to us

    @cached_property
    def _client(self) -> Client:
        """Twilio's client on our pooled httpx client."""
        settings = self.settings
        token = settings.auth_token.get_secret_value()
        transport = HttpxTwilioClient(self._http, settings.base_url, settings.timeout)
        return Client(
            settings.account_sid, token, settings.account_sid, http_client=transport, environment={}
        )

    @classmethod
    def from_config(cls, config: ChannelConfig) -> TwilioChannel:
        callback = f"{config.public_url}/webhooks/twilio/status"
        return cls(config.settings(cls, TwilioSettings, ENVIRONMENT, status_callback_url=callback))

    def create_params(self, message: OutboundMessage) -> dict[str, Any]:
        """The keyword arguments of ``messages.create_async`` for one message."""
        if message.channel not in ("sms", "whatsapp"):
            raise ValueError(f"message {message.message_id} is {message.channel}, not sms/whatsapp")
        params: dict[str, Any] = {"to": _address(message.channel, message.to), "body": message.text}
        service = message.messaging_service_sid or self.settings.messaging_service_sid
        if service:
            params["messaging_service_sid"] = service
        else:
            params["from_"] = _address(message.channel, message.sender)
        callback = status_callback(self.settings.status_callback_url, message.message_id)
        if callback:
            params["status_callback"] = callback
        return params

    async def _send_one(self, message: OutboundMessage) -> Sent:
        try:
            params = self.create_params(message)
        except ValueError as exc:
            raise PermanentError(str(exc), code="payload") from exc
        try:
            created = await self._client.messages.create_async(**params)
        except (TwilioRestException, TwilioServiceException) as exc:
            raise classify(exc, self._clock()) from exc
        except httpx.TransportError as exc:
            raise transport_error("Twilio", exc) from exc
        segments = created.num_segments
        return Sent(created.sid, int(segments) if segments and segments.isdigit() else None)

    async def lookup(self, message: OutboundMessage, since: datetime) -> str | None:
        """The SID of ``message`` if Twilio has it: a message to the same recipient, from
        the same sender (or any, through a Messaging Service), with the same body, created
        at ``since`` or later (the Messages API, newest first). None when Twilio has none
        such: the request never reached it."""
        to = _address(message.channel, message.to)
        service = message.messaging_service_sid or self.settings.messaging_service_sid
        sender = None if service else _address(message.channel, message.sender)
        try:
            found = await self._client.messages.list_async(
                to=to, from_=sender, date_sent_after=None, limit=50, page_size=50
            )
        except (TwilioRestException, TwilioServiceException) as exc:
            raise classify(exc, self._clock()) from exc
        except httpx.TransportError as exc:
            raise transport_error("Twilio", exc) from exc
        for candidate in found:
            created = candidate.date_created
            if candidate.body == message.text and (created is None or created >= since):
                return str(candidate.sid)
        return None
