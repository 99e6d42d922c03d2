"""What every channel speaks: an outbound message, a receipt, inbound events, the protocol,
and how a channel class describes and builds itself (``ChannelClass``, ``ChannelConfig``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, ValidationError

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


class ChannelSettings(BaseModel):
    """A channel's settings: frozen, unknown keys refused, secrets as ``SecretStr``."""

    model_config = ConfigDict(frozen=True, extra="forbid")


_S = TypeVar("_S", bound=ChannelSettings)


class _Described(Protocol):
    """A channel class, as far as its settings' errors name it."""

    @property
    def name(self) -> str: ...
    @property
    def setup_url(self) -> str: ...


@dataclass(frozen=True)
class ChannelConfig:
    """What every channel class is built from: ``cls.from_config(config)``, built-ins and
    entry-point plugins alike.

    ``env`` is the environment the engine read once at its entry point (channels never read
    ``os.environ``); ``workspace``, ``public_url`` (where provider webhooks come back) and
    ``clock`` are what only the engine knows.
    """

    env: Mapping[str, str]
    workspace: Path
    public_url: str
    clock: Callable[[], datetime]

    def settings(
        self, channel: _Described, model: type[_S], variables: Mapping[str, str], **given: Any
    ) -> _S:
        """``channel``'s settings: :func:`settings_from_env` on :attr:`env`, its errors
        naming the channel and its setup page."""
        return settings_from_env(
            model, self.env, variables, channel=channel.name, setup_url=channel.setup_url, **given
        )


class ChannelClass(Protocol):
    """What a channel class says about itself in class attributes, read before it is built:
    the message channels it ``serves``, its ``settings_model``, its ``setup_url`` (the page
    that tells how to connect it), whether its messages link back to our public URL."""

    name: str
    title: str
    serves: frozenset[ChannelName]
    settings_model: type[ChannelSettings]
    setup_url: str
    needs_public_url: bool

    def from_config(self, config: ChannelConfig) -> Channel: ...


def settings_from_env(
    model: type[_S],
    env: Mapping[str, str],
    variables: Mapping[str, str],
    *,
    channel: str,
    setup_url: str,
    **given: Any,
) -> _S:
    """``model`` from the environment variables named per field (unset ones keep their
    default) plus ``given``; a missing or invalid one is a ChannelConfigError naming the
    variables and the setup page, never a pydantic traceback."""
    values = {name: env[variable] for name, variable in variables.items() if env.get(variable)}
    try:
        return model(**values, **given)
    except ValidationError as exc:
        fields = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
        wrong = [variable for name, variable in variables.items() if name in fields]
        named = " and ".join(wrong) or ", ".join(sorted(fields))
        raise ChannelConfigError(f"the {channel} channel needs {named} (see {setup_url})") from exc
