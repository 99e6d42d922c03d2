"""Which channel objects a configuration gives, including third-party ones."""

from __future__ import annotations

import asyncio
import email
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from channels import registry
from channels.base import (
    ChannelConfig,
    ChannelSettings,
    OutboundMessage,
    Receipt,
    settings_from_env,
)
from channels.errors import ChannelConfigError
from channels.file import FileChannel
from channels.sendgrid import SendgridChannel
from engine.config import Config
from engine.core.clock import fixed_clock
from engine.outbox.adapters import build_channels


class PigeonSettings(ChannelSettings):
    loft: str


class PigeonChannel:
    """A third-party channel, configured from the environment."""

    name = "pigeon"
    title = "Pigeon post"
    serves = frozenset({"sms", "whatsapp"})
    settings_model = PigeonSettings
    setup_url = "https://pigeon.example/setup"
    needs_public_url = False

    def __init__(self, settings: PigeonSettings) -> None:
        self.loft = settings.loft

    @classmethod
    def from_config(cls, config: ChannelConfig) -> PigeonChannel:
        settings = settings_from_env(
            PigeonSettings, config.env, {"loft": "PIGEON_LOFT"}, channel=cls.name,
            setup_url=cls.setup_url,
        )  # fmt: skip
        return cls(settings)

    async def send(self, messages: Sequence[OutboundMessage]) -> list[Receipt]:
        return [Receipt(m.message_id, provider_id="coo") for m in messages]

    async def aclose(self) -> None:
        return None


def _config(tmp_path: Path, **env: str) -> Config:
    return Config.load(tmp_path, env={"NURTURE_DATABASE_URL": "sqlite://", **env})


def test_without_keys_one_file_channel_serves_every_channel(tmp_path: Path) -> None:
    channels = build_channels(_config(tmp_path))
    assert isinstance(channels["email"], FileChannel)
    assert channels["email"] is channels["sms"] is channels["whatsapp"]


def test_the_file_channel_dates_messages_with_the_engines_clock(tmp_path: Path) -> None:
    """`nurture run --now` and the demo's simulated weeks write mail dated in their time."""
    at = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    channels = build_channels(_config(tmp_path), fixed_clock(at))
    message = OutboundMessage("m-1", "email", "ada@example.com", "c@acme.example", "Hello",
                              subject="Hi")  # fmt: skip
    [receipt] = asyncio.run(channels["email"].send([message]))
    [written] = (tmp_path / "outbox").iterdir()
    assert receipt.ok
    assert email.message_from_bytes(written.read_bytes())["Date"] == format_datetime(at)


def test_a_sendgrid_key_selects_sendgrid_for_email_only(tmp_path: Path) -> None:
    channels = build_channels(
        _config(tmp_path, SENDGRID_API_KEY="SG.x", NURTURE_PUBLIC_URL="https://hooks.example")
    )
    assert isinstance(channels["email"], SendgridChannel)
    assert isinstance(channels["sms"], FileChannel)


def test_twilio_without_account_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ChannelConfigError, match="needs TWILIO_ACCOUNT_SID"):
        build_channels(_config(tmp_path, NURTURE_SMS_CHANNEL="twilio",
                               NURTURE_PUBLIC_URL="https://hooks.example"))  # fmt: skip


def test_a_registered_third_party_channel_is_built_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = EntryPoint("pigeon", f"{__name__}:PigeonChannel", registry.GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [entry])
    channels = build_channels(
        _config(tmp_path, NURTURE_SMS_CHANNEL="pigeon", PIGEON_LOFT="rooftop")
    )
    assert isinstance(channels["sms"], PigeonChannel) and channels["sms"].loft == "rooftop"


def test_a_plugin_missing_its_setting_says_which_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = EntryPoint("pigeon", f"{__name__}:PigeonChannel", registry.GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [entry])
    with pytest.raises(ChannelConfigError, match=r"pigeon channel needs PIGEON_LOFT \(see https"):
        build_channels(_config(tmp_path, NURTURE_SMS_CHANNEL="pigeon"))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"NURTURE_EMAIL_CHANNEL": "twilio"},
            "NURTURE_EMAIL_CHANNEL=twilio: Twilio sends sms, whatsapp, not email",
        ),
        (
            {"NURTURE_SMS_CHANNEL": "sendgrid"},
            "NURTURE_SMS_CHANNEL=sendgrid: SendGrid sends email, not sms",
        ),
    ],
)
def test_a_channel_configured_for_what_it_does_not_serve_is_refused(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ChannelConfigError) as raised:
        build_channels(_config(tmp_path, **env, NURTURE_PUBLIC_URL="https://hooks.example"))
    assert str(raised.value) == message


def test_an_unknown_channel_names_the_known_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "entry_points", lambda group: [])
    with pytest.raises(ChannelConfigError, match=r"unknown channel 'owl' \(known: file, memory"):
        build_channels(_config(tmp_path, NURTURE_EMAIL_CHANNEL="owl"))


TWILIO_ENV = {"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t"}


@pytest.mark.parametrize("env", [{"SENDGRID_API_KEY": "SG.x"}, TWILIO_ENV])
def test_real_channels_need_a_public_url(tmp_path: Path, env: dict[str, str]) -> None:
    """Their messages link back to the webhook app: 127.0.0.1 would be a dead link."""
    with pytest.raises(ChannelConfigError, match="set NURTURE_PUBLIC_URL"):
        build_channels(_config(tmp_path, **env))


def test_every_variable_a_builtin_channel_reads_is_documented() -> None:
    """The channels read their own variables; docs/reference/environment.md lists them all."""
    from channels.file import ENVIRONMENT as FILE
    from channels.sendgrid.settings import ENVIRONMENT as SENDGRID
    from channels.twilio.settings import ENVIRONMENT as TWILIO
    from engine.config import ENVIRONMENT

    documented = {name for name, _ in ENVIRONMENT}
    read = {*SENDGRID.values(), *TWILIO.values(), *FILE.values()}
    assert read <= documented, sorted(read - documented)
