"""What every channel speaks: an outbound message, a receipt, inbound events, the protocol."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from channels.errors import ChannelConfigError, DeliveryError

ChannelName = Literal["email", "sms", "whatsapp"]
EventKind = Literal[
    "sent",
    "delivered",
    "opened",
    "clicked",
    "bounced",
    "dropped",
    "deferred",
    "failed",
    "spam_report",
    "unsubscribed",
    "replied",
    "opted_out",
    "opted_in",
]


@dataclass(frozen=True)
class OutboundMessage:
    """One rendered message, ready for a provider.

    ``message_id`` is ours (the outbox row's id): it travels as SendGrid custom_args /
    Twilio status-callback parameter and comes back on every provider event.
    ``headers`` carries Message-ID, In-Reply-To and References for threaded emails.
    """

    message_id: str
    channel: ChannelName
    to: str
    sender: str  # email address or E.164 number
    text: str
    sender_name: str | None = None
    subject: str | None = None
    html: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    talent_id: int | None = None
    enrollment_id: int | None = None
    campaign: str | None = None
    step_id: str | None = None
    reply_token: str | None = None  # goes into the Reply-To local part
    unsubscribe_url: str | None = None
    messaging_service_sid: str | None = None


@dataclass(frozen=True)
class Receipt:
    """The outcome of one send: the provider's id, or the error that stopped it."""

    message_id: str
    provider_id: str | None = None
    error: DeliveryError | ChannelConfigError | None = None
    segments: int | None = None  # SMS/WhatsApp: the segments the provider will bill

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class InboundEvent:
    """A provider event normalised. ``provider_event_id`` deduplicates replays;
    ``message_id`` (ours) or ``provider_message_id`` correlates it to the outbox."""

    kind: EventKind
    provider: str
    provider_event_id: str
    occurred_at: datetime
    channel: ChannelName
    message_id: str | None = None
    provider_message_id: str | None = None
    address: str | None = None  # the talent's email or phone (the event's "from"/"to" side)
    url: str | None = None  # clicked
    bounce_type: str | None = None  # "hard" | "soft" | "block"
    reason: str | None = None
    subject: str | None = None
    text: str | None = None  # replied: the new text, quoted history removed
    body: str | None = None  # replied (email): the whole text as received, for a re-read
    headers: Mapping[str, str] = field(default_factory=dict)
    reply_token: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    auto_reply: bool = False
    media: tuple[str, ...] = ()  # Twilio MMS/WhatsApp media URLs
    attachments: tuple[str, ...] = ()  # Inbound Parse: attachment file names
    # The provider vouches for ``address``: SPF or DKIM passing for the From domain (Inbound
    # Parse), or a signed Twilio webhook. Without it a reply proves nothing by its sender.
    sender_authenticated: bool = False


@runtime_checkable
class Channel(Protocol):
    """One verb: send a batch (bounded concurrency inside), one receipt per message, in order."""

    name: str

    async def send(self, messages: Sequence[OutboundMessage]) -> list[Receipt]: ...

    async def aclose(self) -> None: ...
