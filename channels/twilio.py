"""Twilio SMS and WhatsApp: the real ``twilio`` Client over an httpx-backed HTTP client.

The HTTP client is :class:`HttpxTwilioClient`, a ``twilio.http.AsyncHttpClient`` on an
injected ``httpx.AsyncClient``: respx sees every request, and ``base_url``
(``NURTURE_TWILIO_BASE_URL``) points the whole client at a local fake provider.
Webhooks (inbound messages, status callbacks) are checked with Twilio's own
``RequestValidator`` against the public URL Twilio called.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http import AsyncHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.request_validator import RequestValidator, get_signature_algorithm
from twilio.rest import Client

from channels.base import ChannelName, EventKind, InboundEvent, OutboundMessage, Receipt
from channels.errors import (
    ChannelConfigError,
    PayloadError,
    PermanentError,
    SignatureError,
    TransientError,
)
from channels.retry import (
    Clock,
    RetryPolicy,
    Sent,
    Sleep,
    Slots,
    retry_after,
    send_batch,
    utcnow,
)
from channels.settings import TwilioSettings
from channels.transport import pooled_client, transport_error

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


class TwilioChannel:
    """SMS and WhatsApp through Twilio Programmable Messaging."""

    name = "twilio"

    def __init__(
        self,
        settings: TwilioSettings,
        client: httpx.AsyncClient | None = None,
        *,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = utcnow,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self._owns_client = client is None
        self._http = client or pooled_client(settings.concurrency, settings.timeout)
        self._slots = Slots(settings.concurrency)  # shared by the batches sent at once
        token = settings.auth_token.get_secret_value()
        transport = HttpxTwilioClient(self._http, settings.base_url, settings.timeout)
        self._client = Client(
            settings.account_sid, token, settings.account_sid, http_client=transport, environment={}
        )
        self._policy = RetryPolicy(settings.max_retries, max_wait=settings.max_retry_wait)
        self._sleep, self._clock, self._rand = sleep, clock, rand

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

    async def send(self, messages: Sequence[OutboundMessage]) -> list[Receipt]:
        return await send_batch(
            messages,
            self._send_one,
            concurrency=self.settings.concurrency,
            slots=self._slots,
            policy=self._policy,
            sleep=self._sleep,
            rand=self._rand,
        )

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

    async def aclose(self) -> None:
        if self._owns_client:
            await self._http.aclose()


# --- webhooks ----------------------------------------------------------------------------

_STOP = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
_START = {"START", "UNSTOP", "YES"}
_HELP = {"HELP", "INFO"}
_STATUS_KINDS: dict[str, EventKind] = {
    "accepted": "sent",
    "scheduled": "sent",
    "queued": "sent",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "read": "opened",
    "undelivered": "bounced",
    "failed": "failed",
    "canceled": "failed",
}
_HARD_UNDELIVERED = {"30005", "30006"}  # unknown destination, landline


def sign_request(url: str, params: Mapping[str, str], auth_token: str) -> str:
    """``X-Twilio-Signature`` as Twilio computes it (HMAC-SHA1 of URL + sorted params)."""
    return str(RequestValidator(auth_token).compute_signature(url, dict(params)))


def verify_request(
    url: str,
    params: Mapping[str, str],
    signature: str | None,
    auth_token: str,
    *,
    signature_settings: str | None = None,
) -> None:
    """Raise SignatureError unless Twilio signed this URL and these form parameters.

    ``url`` is the full public URL Twilio called (``NURTURE_PUBLIC_URL`` + path + query);
    ``signature_settings`` is the ``X-Twilio-Webhooks-Signature-Settings`` header, if any.
    """
    if not signature:
        raise SignatureError("missing X-Twilio-Signature header")
    algorithm = get_signature_algorithm(signature_settings)
    if not RequestValidator(auth_token).validate(url, dict(params), signature, algorithm):
        raise SignatureError("X-Twilio-Signature does not match the URL and parameters")


def _channel_of(address: str) -> tuple[ChannelName, str]:
    if address.startswith(WHATSAPP):
        return "whatsapp", address.removeprefix(WHATSAPP)
    return "sms", address


def _required(params: Mapping[str, str], *names: str) -> str:
    for name in names:
        if value := params.get(name):
            return value
    raise PayloadError(f"Twilio request lacks {' or '.join(names)}")


def _keyword_kind(params: Mapping[str, str]) -> tuple[EventKind, str | None]:
    opt_out_type = (params.get("OptOutType") or "").strip().upper()
    word = opt_out_type or " ".join((params.get("Body") or "").split()).upper().rstrip(".!")
    if word in _STOP or word == "STOP ALL":
        return "opted_out", "STOP"
    if word in _START:
        return "opted_in", "START"
    if word in _HELP:
        return "replied", "HELP"
    return "replied", None


def _media(params: Mapping[str, str]) -> tuple[str, ...]:
    count = params.get("NumMedia") or "0"
    if not count.isdigit():
        raise PayloadError(f"NumMedia is not a number: {count[:20]!r}")
    return tuple(params[f"MediaUrl{i}"] for i in range(int(count)) if f"MediaUrl{i}" in params)


def parse_inbound_message(
    params: Mapping[str, str], *, received_at: datetime | None = None
) -> InboundEvent:
    """An inbound SMS/WhatsApp: ``replied``, or ``opted_out``/``opted_in`` for keywords."""
    sid = _required(params, "MessageSid", "SmsMessageSid")
    channel, address = _channel_of(_required(params, "From"))
    kind, keyword = _keyword_kind(params)
    return InboundEvent(
        kind=kind,
        provider="twilio",
        provider_event_id=sid,
        occurred_at=received_at or datetime.now(UTC),
        channel=channel,
        provider_message_id=sid,
        address=address,
        reason=keyword,
        text=params.get("Body") or "",
        media=_media(params),
    )


def parse_status(
    params: Mapping[str, str], *, url: str | None = None, received_at: datetime | None = None
) -> InboundEvent:
    """A status callback; ``message_id`` is ours, from the StatusCallback query string.

    Give the called ``url`` (or merge its query into ``params``) so the id can be read.
    """
    query = dict(parse_qsl(urlsplit(url).query)) if url else {}
    message_id = params.get("message_id") or query.get("message_id") or None
    sid = _required(params, "MessageSid", "SmsSid")
    status = _required(params, "MessageStatus", "SmsStatus").lower()
    kind = _STATUS_KINDS.get(status)
    if kind is None:
        raise PayloadError(f"unknown Twilio MessageStatus {status!r}")
    channel, address = _channel_of(params.get("To") or "")
    error_code = params.get("ErrorCode") or None
    bounce = "hard" if error_code in _HARD_UNDELIVERED else "soft"
    return InboundEvent(
        kind=kind,
        provider="twilio",
        provider_event_id=f"{sid}:{status}",
        occurred_at=received_at or datetime.now(UTC),
        channel=channel,
        message_id=message_id,
        provider_message_id=sid,
        address=address or None,
        bounce_type=bounce if kind == "bounced" else None,
        reason=f"{status} {error_code}" if error_code else status,
    )


__all__ = [
    "HttpxTwilioClient",
    "TwilioChannel",
    "classify",
    "parse_inbound_message",
    "parse_status",
    "sign_request",
    "status_callback",
    "verify_request",
]
