"""Channel objects built from the configuration: SendGrid, Twilio, the file channel, or a
third-party channel installed under the ``nurture.channels`` entry point group.

``file`` (the default without provider keys) writes every message to ``<workspace>/outbox/``
and says so loudly (once), so nobody mistakes a development run for real sending.
A third-party channel class is built with ``Class.from_env(env)``, reading its own settings
from the environment.
"""

from __future__ import annotations

from channels.base import Channel
from channels.errors import ChannelConfigError
from engine.config import Config
from engine.core.clock import Clock, system_clock


def _file(config: Config, clock: Clock) -> Channel:
    from channels.file import FileChannel
    from channels.settings import FileSettings

    folder = config.workspace / "outbox"
    settings = FileSettings(directory=folder, inbound_domain=config.inbound_domain)
    return FileChannel(settings, clock=clock)


def _sendgrid(config: Config) -> Channel:
    from channels.sendgrid import SendgridChannel
    from channels.settings import SendgridSettings

    if config.sendgrid_api_key is None:
        raise ChannelConfigError("NURTURE_EMAIL_CHANNEL=sendgrid needs SENDGRID_API_KEY")
    settings = SendgridSettings(
        api_key=config.sendgrid_api_key,
        base_url=config.sendgrid_base_url,
        inbound_domain=config.inbound_domain,
        webhook_public_key=config.sendgrid_webhook_public_key,
    )
    return SendgridChannel(settings)


def _twilio(config: Config) -> Channel:
    from channels.settings import TwilioSettings
    from channels.twilio import TwilioChannel

    if not (config.twilio_account_sid and config.twilio_auth_token):
        raise ChannelConfigError(
            "NURTURE_SMS_CHANNEL=twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
        )
    settings = TwilioSettings(
        account_sid=config.twilio_account_sid,
        auth_token=config.twilio_auth_token,
        base_url=config.twilio_base_url,
        status_callback_url=f"{config.public_url}/webhooks/twilio/status",
    )
    return TwilioChannel(settings)


def _build(config: Config, name: str, clock: Clock) -> Channel:
    if name == "sendgrid":
        return _sendgrid(config)
    if name == "twilio":
        return _twilio(config)
    if name == "file":
        return _file(config, clock)
    from channels.registry import load_channel_class

    cls = load_channel_class(name)  # ChannelConfigError when nobody registered it
    if not hasattr(cls, "from_env"):
        raise ChannelConfigError(f"channel {name!r} ({cls.__qualname__}) has no from_env(env)")
    channel: Channel = cls.from_env(config.env)
    return channel


PUBLIC_URL_CHANNELS = {"sendgrid": "SendGrid", "twilio": "Twilio"}
"""Channels whose messages carry links back to the webhook app (unsubscribe links, Twilio's
StatusCallback): sending through them with the local default URL would mail dead links."""


def check_public_url(config: Config) -> None:
    """Refuse real sending without ``NURTURE_PUBLIC_URL`` (the file channel needs none)."""
    names = [config.email_channel, config.sms_channel]
    real = sorted({PUBLIC_URL_CHANNELS[n] for n in names if n in PUBLIC_URL_CHANNELS})
    if real and not config.public_url_set:
        raise ChannelConfigError(
            f"{' and '.join(real)} messages link back to this server (unsubscribe links, "
            "status callbacks): set NURTURE_PUBLIC_URL to its public https:// address; "
            "nothing was sent"
        )


def build_channels(config: Config, clock: Clock = system_clock) -> dict[str, Channel]:
    """``{"email": ..., "sms": ..., "whatsapp": ...}`` as the configuration asks. ``clock``
    dates the file channel's messages (the engine's clock: ``--now``, the demo's weeks);
    provider channels keep the wall clock, which their Retry-After headers are read against."""
    check_public_url(config)
    email = _build(config, config.email_channel, clock)
    if config.sms_channel == config.email_channel:
        return {"email": email, "sms": email, "whatsapp": email}
    sms = _build(config, config.sms_channel, clock)
    return {"email": email, "sms": sms, "whatsapp": sms}


async def close_channels(channels: dict[str, Channel]) -> None:
    for channel in {id(c): c for c in channels.values()}.values():
        await channel.aclose()
