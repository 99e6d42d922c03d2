"""Channel objects built from the configuration: SendGrid, Twilio, the file channel, or a
third-party channel installed under the ``nurture.channels`` entry point group.

Every one is built the same way, by :func:`channels.registry.build_channel`: its class says
what it serves and whether its messages link back to us, and ``from_config`` reads its own
settings. ``file`` (the default without provider keys) writes every message to
``<workspace>/outbox/`` and says so loudly (once), so nobody mistakes a development run for
real sending.
"""

from __future__ import annotations

from channels.base import Channel, ChannelClass, ChannelConfig, ChannelName
from channels.errors import ChannelConfigError
from engine.config import Config
from engine.core.clock import Clock, system_clock


def _classes(config: Config) -> dict[ChannelName, tuple[str, ChannelClass]]:
    """``{"email": (name, class), "sms": ...}`` as configured; a class that does not serve
    the channel it is configured for is a configuration error."""
    from channels.registry import load_channel_class

    chosen: dict[ChannelName, tuple[str, ChannelClass]] = {}
    for served, variable, name in (
        ("email", "NURTURE_EMAIL_CHANNEL", config.email_channel),
        ("sms", "NURTURE_SMS_CHANNEL", config.sms_channel),
    ):
        cls = load_channel_class(name)  # ChannelConfigError when nobody registered it
        if served not in cls.serves:
            serves = ", ".join(sorted(cls.serves))
            raise ChannelConfigError(f"{variable}={name}: {cls.title} sends {serves}, not {served}")
        chosen[served] = (name, cls)
    return chosen


def _check_public_url(config: Config, classes: list[ChannelClass]) -> None:
    real = sorted({cls.title for cls in classes if cls.needs_public_url})
    if real and not config.public_url_set:
        raise ChannelConfigError(
            f"{' and '.join(real)} messages link back to this server (unsubscribe links, "
            "status callbacks): set NURTURE_PUBLIC_URL to its public https:// address; "
            "nothing was sent"
        )


def check_public_url(config: Config) -> None:
    """Refuse real sending without ``NURTURE_PUBLIC_URL`` (the file channel needs none)."""
    _check_public_url(config, [cls for _, cls in _classes(config).values()])


def build_channels(config: Config, clock: Clock = system_clock) -> dict[str, Channel]:
    """``{"email": ..., "sms": ..., "whatsapp": ...}`` as the configuration asks. ``clock``
    dates the file channel's messages (the engine's clock: ``--now``, the demo's weeks);
    provider channels keep the wall clock, which their Retry-After headers are read against."""
    classes = _classes(config)
    _check_public_url(config, [cls for _, cls in classes.values()])
    context = ChannelConfig(config.env, config.workspace, config.public_url, clock)
    (email_name, email_cls), (sms_name, sms_cls) = classes["email"], classes["sms"]
    email = email_cls.from_config(context)
    sms = email if sms_name == email_name else sms_cls.from_config(context)
    return {"email": email, "sms": sms, "whatsapp": sms}


async def close_channels(channels: dict[str, Channel]) -> None:
    for channel in {id(c): c for c in channels.values()}.values():
        await channel.aclose()
