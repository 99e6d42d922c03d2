"""SendGrid's inbound side: the signed Event Webhook and Inbound Parse posts.

The Event Webhook is verified with the ``sendgrid`` library's own ECDSA verifier over the
raw body, with a timestamp tolerance against replays. Inbound Parse carries a reply: its
new text (quoted history and signature stripped), threading headers, auto-reply markers
and the reply token from our ``reply+<token>@<inbound domain>`` address.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from email.parser import HeaderParser
from email.policy import HTTP
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhook
from sendgrid.helpers.eventwebhook.eventwebhook_header import EventWebhookHeader

from channels.base import EventKind, InboundEvent
from channels.errors import PayloadError, SignatureError
from channels.quoting import html_to_text, strip_quoted

SIGNATURE_HEADER: str = EventWebhookHeader.SIGNATURE
TIMESTAMP_HEADER: str = EventWebhookHeader.TIMESTAMP

_EVENT_KINDS: dict[str, EventKind] = {
    "processed": "sent",
    "delivered": "delivered",
    "open": "opened",
    "click": "clicked",
    "bounce": "bounced",
    "dropped": "dropped",
    "deferred": "deferred",
    "spamreport": "spam_report",
    "unsubscribe": "unsubscribed",
    "group_unsubscribe": "unsubscribed",
    "group_resubscribe": "opted_in",
}


# --- Event Webhook signature -------------------------------------------------------------


def _private_key(key: str | bytes | ec.EllipticCurvePrivateKey) -> ec.EllipticCurvePrivateKey:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key
    loaded = serialization.load_pem_private_key(key.encode() if isinstance(key, str) else key, None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise ValueError("the Event Webhook is signed with an EC (P-256) key")
    return loaded


def event_webhook_public_key(private_key: str | bytes | ec.EllipticCurvePrivateKey) -> str:
    """The verification key as SendGrid shows it (base64 DER, no PEM lines)."""
    der = (
        _private_key(private_key)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return base64.b64encode(der).decode()


def sign_event_webhook(
    body: bytes, private_key: str | bytes | ec.EllipticCurvePrivateKey, timestamp: str
) -> dict[str, str]:
    """The two headers SendGrid adds: ECDSA P-256/SHA-256 over timestamp + body, base64 DER."""
    signature = _private_key(private_key).sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {SIGNATURE_HEADER: base64.b64encode(signature).decode(), TIMESTAMP_HEADER: timestamp}


def _bare_key(public_key: str) -> str:
    return "".join(line for line in public_key.strip().splitlines() if "-----" not in line)


def _check_timestamp(timestamp: str, now: datetime, tolerance: timedelta) -> None:
    if not timestamp.strip().isdigit():
        raise SignatureError(f"{TIMESTAMP_HEADER} is not a Unix time: {timestamp[:40]!r}")
    signed_at = datetime.fromtimestamp(int(timestamp), UTC)
    if abs(now - signed_at) > tolerance:
        raise SignatureError(f"stale Event Webhook timestamp {signed_at.isoformat()}")


def verify_event_webhook(
    body: bytes,
    headers: Mapping[str, str],
    public_key: str,
    now: datetime,
    tolerance: timedelta = timedelta(minutes=10),
) -> None:
    """Raise SignatureError unless ``body`` is signed by the key and recent enough."""
    lowered = {key.lower(): value for key, value in headers.items()}
    signature = lowered.get(SIGNATURE_HEADER.lower())
    timestamp = lowered.get(TIMESTAMP_HEADER.lower())
    if not signature or not timestamp:
        raise SignatureError(f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header")
    _check_timestamp(timestamp, now, tolerance)
    try:
        verifier = EventWebhook(_bare_key(public_key))
    except ValueError as exc:
        raise SignatureError("SENDGRID_WEBHOOK_PUBLIC_KEY is not an EC public key") from exc
    try:
        valid = verifier.verify_signature(body.decode("utf-8"), signature, timestamp)
    except (UnicodeDecodeError, binascii.Error, ValueError) as exc:
        raise SignatureError(f"unreadable Event Webhook signature: {exc}") from exc
    if not valid:
        raise SignatureError("Event Webhook signature does not match the body")


# --- Event Webhook body ------------------------------------------------------------------


def _bounce_type(event: Mapping[str, Any]) -> str:
    if event.get("type") == "blocked" or event.get("bounce_classification") == "Reputation":
        return "block"
    return "hard"


def _event(raw: Mapping[str, Any], kind: EventKind) -> InboundEvent:
    sg_message_id = raw.get("sg_message_id")
    return InboundEvent(
        kind=kind,
        provider="sendgrid",
        provider_event_id=str(raw["sg_event_id"]),
        occurred_at=datetime.fromtimestamp(int(raw["timestamp"]), UTC),
        channel="email",
        message_id=str(raw["message_id"]) if raw.get("message_id") is not None else None,
        provider_message_id=str(sg_message_id).split(".", 1)[0] if sg_message_id else None,
        address=raw.get("email"),
        url=raw.get("url") if kind == "clicked" else None,
        bounce_type=_bounce_type(raw) if kind == "bounced" else None,
        reason=raw.get("reason") or raw.get("response"),
    )


def parse_events(body: bytes) -> list[InboundEvent]:
    """The events of one Event Webhook post, in order; unknown event types are skipped."""
    try:
        raw_events = json.loads(body)
    except RecursionError as exc:
        raise PayloadError("Event Webhook body is nested too deeply") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"Event Webhook body is not JSON: {exc}") from exc
    if not isinstance(raw_events, list):
        raise PayloadError("Event Webhook body must be a JSON array of events")
    events = []
    for index, raw in enumerate(raw_events):
        if not isinstance(raw, dict) or not {"event", "sg_event_id", "timestamp"} <= raw.keys():
            raise PayloadError(f"event {index} lacks event, sg_event_id or timestamp")
        kind = _EVENT_KINDS.get(str(raw["event"]))
        if kind is None:
            continue
        try:
            events.append(_event(raw, kind))
        except (TypeError, ValueError, OverflowError) as exc:
            raise PayloadError(f"event {index}: bad timestamp {raw['timestamp']!r}") from exc
    return events


# --- Inbound Parse -----------------------------------------------------------------------

_AUTO_SUBJECT = re.compile(
    r"^\s*(?:auto(?:matic)?\s*reply|out of (?:the )?office|absence|réponse automatique"
    r"|abwesenheitsnotiz|automatische antwort|respuesta automática)\b",
    re.IGNORECASE,
)
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")


def _decode(raw: bytes, charset: str) -> str:
    try:
        return raw.decode(charset)
    except (LookupError, UnicodeDecodeError):
        return raw.decode("utf-8", "replace")


def inbound_form(body: bytes, content_type: str) -> dict[str, str]:
    """The text fields of an Inbound Parse multipart/form-data post (files left out).

    Each field is decoded with its part's charset, else the one SendGrid names in the
    ``charsets`` field, else UTF-8.
    """
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    parsed = message_from_bytes(head + body, policy=HTTP)
    if not parsed.is_multipart():
        raise PayloadError("Inbound Parse post is not multipart/form-data")
    raw: dict[str, tuple[bytes, str | None]] = {}
    for part in parsed.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name and part.get_filename() is None:
            payload = part.get_payload(decode=True)
            raw[str(name)] = (
                payload if isinstance(payload, bytes) else b"",
                part.get_content_charset(),
            )
    try:
        charsets = json.loads(raw.get("charsets", (b"{}", None))[0] or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise PayloadError("charsets is not JSON") from exc
    if not isinstance(charsets, dict):
        charsets = {}
    fields = {
        name: _decode(value, charset or str(charsets.get(name) or "utf-8"))
        for name, (value, charset) in raw.items()
    }
    if "email" in raw:  # raw mode: the MIME message keeps its bytes; each part has a charset
        fields["email"] = raw["email"][0].decode("utf-8", "surrogateescape")
    return fields


def _is_auto_reply(headers: Message, subject: str | None) -> bool:
    """RFC 3834 Auto-Submitted, the common X- markers and Precedence, else the subject."""
    auto_submitted = (headers.get("Auto-Submitted") or "no").strip().lower()
    if auto_submitted != "no":
        return True
    if any(headers.get(name) for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder")):
        return True
    if (headers.get("Precedence") or "").strip().lower() in ("auto_reply", "bulk", "junk"):
        return True
    return bool(subject and _AUTO_SUBJECT.match(subject))


def _recipients(form: Mapping[str, str]) -> list[str]:
    candidates = [form.get("to", ""), form.get("cc", "")]
    try:
        envelope = json.loads(form.get("envelope") or "{}")
    except (json.JSONDecodeError, RecursionError) as exc:
        raise PayloadError("envelope is not JSON") from exc
    if isinstance(envelope, dict) and isinstance(envelope.get("to"), list):
        candidates.extend(str(address) for address in envelope["to"])
    return [address for _, address in getaddresses([value for value in candidates if value])]


def _our_address(form: Mapping[str, str], inbound_domain: str | None) -> tuple[str, str] | None:
    """``(kind, token)`` from the first reply+/unsubscribe+ recipient on our domain."""
    domain = inbound_domain.lower() if inbound_domain else None
    for address in _recipients(form):
        local, _, at = address.partition("@")
        prefix, plus, token = local.partition("+")
        mine = domain is None or at.lower() == domain
        if plus and token and prefix.lower() in ("reply", "unsubscribe") and mine:
            return prefix.lower(), token
    return None


def _attachments(form: Mapping[str, str]) -> tuple[str, ...]:
    try:
        info = json.loads(form.get("attachment-info") or "{}")
    except (json.JSONDecodeError, RecursionError) as exc:
        raise PayloadError("attachment-info is not JSON") from exc
    if not isinstance(info, dict):
        return ()
    return tuple(
        str(item.get("filename") or key) if isinstance(item, dict) else str(key)
        for key, item in info.items()
    )


def _occurred_at(headers: Message, received_at: datetime | None) -> datetime:
    try:
        sent = parsedate_to_datetime(headers.get("Date") or "")
    except (TypeError, ValueError):
        sent = None
    if sent is not None and sent.tzinfo is not None:
        return sent.astimezone(UTC)
    return received_at or datetime.now(UTC)


def _event_id(headers: Message, form: Mapping[str, str]) -> str:
    if message_id := (headers.get("Message-ID") or "").strip():
        return message_id
    digest = hashlib.sha256((form.get("headers", "") + form.get("text", "")).encode())
    return f"sha256:{digest.hexdigest()[:32]}"


def _raw_email(form: Mapping[str, str]) -> dict[str, str]:
    """Inbound Parse in "raw" mode posts the whole MIME message as ``email``."""
    raw = message_from_bytes(form["email"].encode("utf-8", "surrogateescape"), policy=HTTP)
    header_block = "".join(f"{key}: {value}\n" for key, value in raw.items())
    fields = {"headers": header_block, "from": str(raw.get("From", "")), "to": str(raw["To"])}
    for kind in ("plain", "html"):
        body = raw.get_body(preferencelist=(kind,))
        if body is not None:
            fields["text" if kind == "plain" else "html"] = str(body.get_content())
    return {**form, **fields, "subject": str(raw.get("Subject", ""))}


def parse_inbound(
    form: Mapping[str, str], *, inbound_domain: str | None, received_at: datetime | None = None
) -> InboundEvent:
    """A ``replied`` event (``unsubscribed`` for our mailto: unsubscribe address)."""
    if "email" in form and "headers" not in form:
        form = _raw_email(form)
    if not form.get("from") or "headers" not in form:
        raise PayloadError("Inbound Parse post lacks the from or headers field")
    headers = HeaderParser(policy=HTTP).parsestr(form["headers"])
    subject = form.get("subject") or headers.get("Subject")
    text = form.get("text") or html_to_text(form.get("html", ""))
    ours = _our_address(form, inbound_domain)
    kind: EventKind = "unsubscribed" if ours and ours[0] == "unsubscribe" else "replied"
    return InboundEvent(
        kind=kind,
        provider="sendgrid",
        provider_event_id=_event_id(headers, form),
        occurred_at=_occurred_at(headers, received_at),
        channel="email",
        address=parseaddr(form["from"])[1].lower() or None,
        subject=str(subject) if subject else None,
        text=strip_quoted(text),
        body=text,
        headers={key: str(value) for key, value in headers.items()},
        reply_token=ours[1] if ours else None,
        in_reply_to=(headers.get("In-Reply-To") or "").strip() or None,
        references=tuple(_MESSAGE_ID.findall(str(headers.get("References") or ""))),
        auto_reply=_is_auto_reply(headers, str(subject) if subject else None),
        attachments=_attachments(form),
        sender_authenticated=_sender_authenticated(form, parseaddr(form["from"])[1]),
    )


def _sender_authenticated(form: Mapping[str, str], sender: str) -> bool:
    """Whether SPF or DKIM, as SendGrid checked them (its ``SPF`` and ``dkim`` fields),
    pass for the domain of the From address: DMARC's alignment, relaxed to parent domains.

    SPF vouches for the envelope sender, so it counts when that is on the From domain;
    ``dkim`` lists ``{@domain : pass, @other : fail}``, one result per signature.
    """
    domain = sender.rpartition("@")[2].strip().lower()
    if not domain:
        return False
    envelope_from = _envelope_from(form).rpartition("@")[2].strip().lower()
    spf = (form.get("SPF") or "").strip().lower() == "pass"
    if spf and _aligned(envelope_from, domain):
        return True
    signatures = re.findall(r"@([^\s:,{}]+)\s*:\s*(\w+)", form.get("dkim") or "")
    return any(r.lower() == "pass" and _aligned(d.lower(), domain) for d, r in signatures)


def _envelope_from(form: Mapping[str, str]) -> str:
    try:
        envelope = json.loads(form.get("envelope") or "{}")
    except json.JSONDecodeError:
        return ""
    return str(envelope.get("from") or "") if isinstance(envelope, dict) else ""


def _aligned(signer: str, domain: str) -> bool:
    """``signer`` is ``domain`` or one of its parents (never a bare top-level domain)."""
    return "." in signer and (domain == signer or domain.endswith(f".{signer}"))
