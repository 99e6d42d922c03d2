"""Twilio's inbound side: inbound SMS/WhatsApp messages and status callbacks.

Both are checked with Twilio's own ``RequestValidator`` against the public URL Twilio
called, then parsed into :class:`~channels.base.InboundEvent`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

from twilio.request_validator import RequestValidator, get_signature_algorithm

from channels.base import ChannelName, EventKind, InboundEvent
from channels.errors import PayloadError, SignatureError
from channels.keywords import keyword
from channels.twilio.send import WHATSAPP

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
    """``opted_out``/``opted_in`` for STOP/START, else a reply (``reason`` YES or HELP).

    The Body is read by ``channels.keywords``, the one list; Twilio's ``OptOutType`` (sent
    with Advanced Opt-Out) adds only its STOP and START verdicts: Twilio says START on a
    "YES", which for us is a reply that re-subscribes only someone who had opted out.
    """
    opt_out_type = (params.get("OptOutType") or "").strip().upper()
    word = keyword(params.get("Body") or "")
    if word == "STOP" or opt_out_type == "STOP":
        return "opted_out", "STOP"
    if word == "START" or (opt_out_type == "START" and word != "YES"):
        return "opted_in", "START"
    return "replied", word


def _media(params: Mapping[str, str]) -> tuple[str, ...]:
    count = params.get("NumMedia") or "0"
    if not count.isdigit():
        raise PayloadError(f"NumMedia is not a number: {count[:20]!r}")
    # The URLs present, not ``range(NumMedia)``: the count is the sender's word (Twilio: 10).
    numbered = ((name[8:], url) for name, url in params.items() if name.startswith("MediaUrl"))
    found = [(int(n), url) for n, url in numbered if n.isascii() and n.isdigit() and len(n) < 4]
    return tuple(url for _, url in sorted(found))


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
