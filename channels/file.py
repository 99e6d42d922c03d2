"""The development channel: every message becomes a file under the workspace's ``outbox/``.

Email is written as ``<message_id>.eml`` (open it in any mail client), SMS and WhatsApp as
``<message_id>.json``. It is the default when no provider key is set, and says so loudly
(one WARNING per channel) so nobody believes a campaign reached real people.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import tempfile
from collections.abc import Sequence
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import ClassVar

from channels.base import (
    ChannelConfig,
    ChannelName,
    ChannelSettings,
    OutboundMessage,
    Receipt,
)
from channels.email_headers import list_unsubscribe_headers, reply_to_address
from channels.errors import ChannelConfigError, PermanentError
from channels.retry import Clock, utcnow

logger = logging.getLogger(__name__)


class FileSettings(ChannelSettings):
    """Where the messages go, and the reply-to domain their ``.eml`` files show."""

    directory: Path
    inbound_domain: str | None = None


ENVIRONMENT = {"inbound_domain": "NURTURE_INBOUND_DOMAIN"}
"""The variable each setting is read from (documented in ``engine.config.ENVIRONMENT``)."""


def _file_name(message: OutboundMessage) -> str:
    """``<message_id>.eml`` or ``.json``, the id made safe for a file name."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", message.message_id).lstrip(".") or "message"
    return f"{stem}.eml" if message.channel == "email" else f"{stem}.json"


def _render_email(message: OutboundMessage, settings: FileSettings, clock: Clock) -> bytes:
    """The message as an RFC 5322 ``.eml`` file, with the headers SendGrid would send."""
    email = EmailMessage()
    email["From"] = Address(message.sender_name or "", addr_spec=message.sender)
    email["To"] = message.to
    email["Subject"] = message.subject or ""
    email["Date"] = format_datetime(clock())
    if message.reply_token and settings.inbound_domain:
        email["Reply-To"] = reply_to_address(message.reply_token, settings.inbound_domain)
    unsubscribe = list_unsubscribe_headers(
        message.unsubscribe_url, message.reply_token, settings.inbound_domain
    )
    for key, value in {**message.headers, **unsubscribe}.items():
        email[key] = value
    email["X-Nurture-Message-Id"] = message.message_id
    email.set_content(message.text)
    if message.html:
        email.add_alternative(message.html, subtype="html")
    return bytes(email)


def _render_text_message(message: OutboundMessage) -> bytes:
    """An SMS/WhatsApp message as the JSON of what Twilio would be asked to send."""
    record = {
        "message_id": message.message_id,
        "channel": message.channel,
        "to": message.to,
        "from": message.sender,
        "messaging_service_sid": message.messaging_service_sid,
        "body": message.text,
        "campaign": message.campaign,
        "step_id": message.step_id,
        "enrollment_id": message.enrollment_id,
    }
    return json.dumps(record, indent=2, ensure_ascii=False).encode() + b"\n"


def _write_atomically(path: Path, content: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class FileChannel:
    """Writes messages to files instead of sending them; ``provider_id`` is ``file-<id>``."""

    name: ClassVar[str] = "file"
    title: ClassVar[str] = "the file channel"
    serves: ClassVar[frozenset[ChannelName]] = frozenset({"email", "sms", "whatsapp"})
    settings_model: ClassVar[type[FileSettings]] = FileSettings
    setup_url: ClassVar[str] = "docs/tutorial.md"
    needs_public_url: ClassVar[bool] = False  # nobody can click a link in a file

    def __init__(self, settings: FileSettings, *, clock: Clock = utcnow) -> None:
        self.settings = settings
        self._clock = clock
        self._warned = False

    @classmethod
    def from_config(cls, config: ChannelConfig) -> FileChannel:
        """Files in ``<workspace>/outbox/``, dated by the engine's clock (``--now``, the demo)."""
        outbox = config.workspace / "outbox"
        settings = config.settings(cls, FileSettings, ENVIRONMENT, directory=outbox)
        return cls(settings, clock=config.clock)

    def _write(self, message: OutboundMessage) -> Receipt:
        try:
            content = (
                _render_email(message, self.settings, self._clock)
                if message.channel == "email"
                else _render_text_message(message)
            )
        except (ValueError, TypeError) as exc:
            error = PermanentError(f"cannot render message: {exc}", code="payload")
            return Receipt(message.message_id, error=error)
        try:
            _write_atomically(self.settings.directory / _file_name(message), content)
        except OSError as exc:
            error_ = ChannelConfigError(f"cannot write to {self.settings.directory}: {exc}")
            return Receipt(message.message_id, error=error_)
        return Receipt(message.message_id, f"file-{message.message_id}")

    def _write_all(self, messages: Sequence[OutboundMessage]) -> list[Receipt]:
        try:
            self.settings.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            error = ChannelConfigError(f"cannot create {self.settings.directory}: {exc}")
            return [Receipt(message.message_id, error=error) for message in messages]
        return [self._write(message) for message in messages]

    async def send(self, messages: Sequence[OutboundMessage]) -> list[Receipt]:
        if not self._warned:
            self._warned = True
            logger.warning(
                "no provider configured: messages are written to %s", self.settings.directory
            )
        return await asyncio.to_thread(self._write_all, messages)

    async def aclose(self) -> None:
        return None
