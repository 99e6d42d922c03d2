"""Channel adapters: one module or folder per provider, one protocol, one error tree.

``base`` (messages, receipts, inbound events, the ``Channel`` protocol, how a channel
class describes and builds itself), ``errors``; providers ``sendgrid/`` and ``twilio/``
(each ``send``, ``webhooks``, ``settings``), ``file``, ``memory``; ``registry`` (built-ins
and the ``nurture.channels`` entry points, loaded alike); ``retry`` (bounded, retried
batches); ``transport`` (the pooled httpx client); ``quoting`` (reply text without its
history); ``keywords`` (SMS opt-out and opt-in words); ``testing`` (the fake provider).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from channels.base import (
        Channel,
        ChannelClass,
        ChannelConfig,
        ChannelSettings,
        InboundEvent,
        OutboundMessage,
        Receipt,
        settings_from_env,
    )
    from channels.errors import (
        ChannelConfigError,
        ChannelError,
        DeliveryError,
        InDoubtError,
        PayloadError,
        PermanentError,
        SignatureError,
        TransientError,
        WebhookError,
    )
    from channels.registry import channel_names, load_channel_class

_BASE = ("Channel", "ChannelClass", "ChannelConfig", "ChannelSettings", "InboundEvent",
         "OutboundMessage", "Receipt", "settings_from_env")  # fmt: skip
_ERRORS = ("ChannelConfigError", "ChannelError", "DeliveryError", "InDoubtError", "PayloadError",
           "PermanentError", "SignatureError", "TransientError", "WebhookError")  # fmt: skip
_HOMES = {
    **dict.fromkeys(_BASE, "channels.base"),
    **dict.fromkeys(_ERRORS, "channels.errors"),
    "channel_names": "channels.registry",
    "load_channel_class": "channels.registry",
}


def __getattr__(name: str) -> Any:
    """The public names load on first use, so that ``import channels.errors`` alone stays
    light (the command line's error types) and no provider library loads before it is used."""
    if name not in _HOMES:
        raise AttributeError(f"module 'channels' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)


__all__ = [
    "Channel",
    "ChannelClass",
    "ChannelConfig",
    "ChannelConfigError",
    "ChannelError",
    "ChannelSettings",
    "DeliveryError",
    "InDoubtError",
    "InboundEvent",
    "OutboundMessage",
    "PayloadError",
    "PermanentError",
    "Receipt",
    "SignatureError",
    "TransientError",
    "WebhookError",
    "channel_names",
    "load_channel_class",
    "settings_from_env",
]
