"""Bounds on everything posted to a webhook: one rule, applied once, at the boundary.

A provider's post is written as received only when both databases can hold it the same
way: PostgreSQL refuses a NUL character in text (and in JSON) and a value longer than its
column, SQLite takes both. So before the engine sees an inbound event, every text field is
cleaned (``engine.web.webhooks`` calls :func:`clean_event`):

    NUL characters               removed, from every field
    provider_event_id            above MAX_ID characters: ``sha256:<hex>`` of it, so a
                                 replay is still recognised and two ids never merge
    message_id, provider_message_id, reply_token, in_reply_to
                                 above MAX_ID characters: dropped (no id of ours is that
                                 long, so it matches nothing anyway)
    address                      above MAX_ADDRESS characters: dropped, likewise
    text, body                   cut to MAX_TEXT characters
    subject, url, reason, ...    cut to MAX_LINE characters
    headers, references, media, attachments
                                 the first MAX_ITEMS, each cut to MAX_LINE characters

:func:`clean_form` cuts every field of a form to MAX_FIELD characters before it is parsed,
so that parsing (quote stripping, HTML to text) has bounded work too.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping

from channels.base import InboundEvent

MAX_ID = 200  # engagements.provider_event_id
MAX_ADDRESS = 320  # talents.email (RFC 5321's limit)
MAX_LINE = 2_000
MAX_TEXT = 100_000
MAX_FIELD = 1_000_000
MAX_ITEMS = 100
_HASHED = "sha256:"


def clean_text(value: str, limit: int) -> str:
    """``value`` without NUL characters, cut to ``limit`` characters."""
    return value.replace("\x00", "")[:limit]


def bounded_id(value: str) -> str:
    """An id that fits the database: itself, or the SHA-256 of it when longer than MAX_ID."""
    value = value.replace("\x00", "")
    if len(value) <= MAX_ID:
        return value
    return _HASHED + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def clean_form(fields: Mapping[str, str]) -> dict[str, str]:
    """The fields of a posted form, each cut to MAX_FIELD characters (NUL kept for parsing)."""
    return {name[:MAX_LINE]: value[:MAX_FIELD] for name, value in fields.items()}


def clean_event(event: InboundEvent) -> InboundEvent:
    """``event`` with every field within the bounds above."""
    return dataclasses.replace(
        event,
        provider=clean_text(event.provider, 32),
        provider_event_id=bounded_id(event.provider_event_id),
        message_id=_key(event.message_id),
        provider_message_id=_key(event.provider_message_id),
        address=_key(event.address, MAX_ADDRESS),
        url=_short(event.url),
        bounce_type=_short(event.bounce_type),
        reason=_short(event.reason),
        subject=_short(event.subject),
        text=_short(event.text, MAX_TEXT),
        body=_short(event.body, MAX_TEXT),
        headers={_line(k): _line(v) for k, v in list(event.headers.items())[:MAX_ITEMS]},
        reply_token=_key(event.reply_token),
        in_reply_to=_key(event.in_reply_to),
        references=_items(event.references),
        media=_items(event.media),
        attachments=_items(event.attachments),
    )


def _line(value: str) -> str:
    return clean_text(value, MAX_LINE)


def _short(value: str | None, limit: int = MAX_LINE) -> str | None:
    return None if value is None else clean_text(value, limit)


def _key(value: str | None, limit: int = MAX_ID) -> str | None:
    """A value looked up as it is: NUL removed; None when too long to be anything of ours."""
    if value is None:
        return None
    value = value.replace("\x00", "")
    return value if len(value) <= limit else None


def _items(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(_line(value) for value in list(values)[:MAX_ITEMS])


__all__ = ["MAX_ID", "MAX_TEXT", "bounded_id", "clean_event", "clean_form", "clean_text"]
