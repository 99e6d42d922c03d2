"""Signed links in outgoing messages: one-click unsubscribe tokens.

A token names a talent, a channel and the message it was sent in, signed with
HMAC-SHA256; it is not guessable and does not reveal the address. The key comes from
``NURTURE_SECRET_KEY``, else from a random key kept in the workspace
(``.nurture/secret_key``), created on first use.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from engine.config import Config
from sequences.errors import InputError


def secret_key(config: Config, *, create: bool = True) -> bytes:
    """The signing key: from the environment, else the workspace's own key file (a
    throwaway key when it does not exist and ``create`` is False: a dry run writes nothing)."""
    if value := config.env.get("NURTURE_SECRET_KEY"):
        return value.encode()
    path = config.workspace / ".nurture" / "secret_key"
    if not path.exists() and not create:
        return secrets.token_urlsafe(32).encode()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text().strip().encode()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _sign(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest()[:16])


def unsubscribe_token(
    key: bytes, talent_id: int, channel: str = "email", message_id: str | None = None
) -> str:
    """``talent.channel[.message].signature``: the message lets the report count the
    unsubscribe against the campaign, step and variant it came from."""
    payload = ".".join([str(talent_id), channel, *([message_id] if message_id else [])])
    return f"{payload}.{_sign(key, payload)}"


def read_unsubscribe_token(key: bytes, token: str) -> tuple[int, str, str | None]:
    """``(talent_id, channel, message_id or None)``; InputError when it is not one of ours."""
    payload, _, signature = token.rpartition(".")
    parts = payload.split(".")
    if not (
        len(parts) in (2, 3)
        and parts[0].isdigit()
        and signature
        and hmac.compare_digest(signature, _sign(key, payload))
    ):
        raise InputError("invalid unsubscribe link")
    return int(parts[0]), parts[1], parts[2] if len(parts) == 3 else None


def unsubscribe_url(
    config: Config,
    key: bytes,
    talent_id: int,
    channel: str = "email",
    message_id: str | None = None,
) -> str:
    token = unsubscribe_token(key, talent_id, channel, message_id)
    return f"{config.public_url}/unsubscribe/{token}"


__all__ = ["read_unsubscribe_token", "secret_key", "unsubscribe_token", "unsubscribe_url"]
