"""The file channel, the memory channel, the registry, and the batch sender's pieces."""

from __future__ import annotations

import email
import json
import logging
from datetime import UTC, datetime
from email import policy
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from channels import registry
from channels.base import Channel, ChannelConfig, ChannelSettings, OutboundMessage
from channels.errors import ChannelConfigError, PermanentError, TransientError
from channels.file import FileChannel, FileSettings
from channels.memory import MemoryChannel
from channels.retry import RetryPolicy, retry_after, utcnow
from channels.sendgrid import SendgridChannel
from channels.testing import MemoryChannel as ShippedMemoryChannel
from channels.twilio import TwilioChannel

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EMAIL = OutboundMessage(
    message_id="m-1",
    channel="email",
    to="ada@example.com",
    sender="charlotte@acme.example",
    sender_name="Charlotte Bellet",
    subject="Ada, une question",
    text="Bonjour Ada,\n\ndix minutes cette semaine ?",
    html="<p>Bonjour Ada,</p>",
    headers={"Message-ID": "<m-1@nurture.acme.example>"},
    reply_token="tok1",
    unsubscribe_url="https://nurture.acme.example/unsubscribe/7",
    campaign="berlin-backend-q1",
    step_id="intro",
)
SMS = OutboundMessage("m/2", "sms", "+4915112345678", "+4915100000000", "Hi Ada 👋", campaign="c")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def file_channel(directory: Path) -> FileChannel:
    settings = FileSettings(directory=directory, inbound_domain="reply.acme.example")
    return FileChannel(settings, clock=lambda: NOW)


async def test_file_channel_writes_an_eml_a_mail_client_can_open(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    [receipt] = await file_channel(outbox).send([EMAIL])
    assert receipt.ok and receipt.provider_id == "file-m-1"
    parsed = email.message_from_bytes((outbox / "m-1.eml").read_bytes(), policy=policy.default)
    assert parsed["From"] == "Charlotte Bellet <charlotte@acme.example>"
    assert parsed["To"] == "ada@example.com" and parsed["Subject"] == "Ada, une question"
    assert parsed["Reply-To"] == "reply+tok1@reply.acme.example"
    assert parsed["Message-ID"] == "<m-1@nurture.acme.example>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["Date"] == "Mon, 02 Mar 2026 09:00:00 +0000"
    assert parsed.get_body(("plain",)).get_content().startswith("Bonjour Ada,")  # type: ignore[union-attr]
    assert parsed.get_body(("html",)).get_content().strip() == "<p>Bonjour Ada,</p>"  # type: ignore[union-attr]
    assert [p.name for p in outbox.iterdir()] == ["m-1.eml"]  # no temporary file left


async def test_file_channel_writes_sms_as_json_with_a_safe_name(tmp_path: Path) -> None:
    [receipt] = await file_channel(tmp_path).send([SMS])
    assert receipt.provider_id == "file-m/2"
    record = json.loads((tmp_path / "m_2.json").read_text())
    assert record["to"] == "+4915112345678" and record["body"] == "Hi Ada 👋"
    assert record["channel"] == "sms" and record["campaign"] == "c"


async def test_file_channel_says_so_loudly_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    channel = file_channel(tmp_path)
    with caplog.at_level(logging.WARNING, logger="channels.file"):
        await channel.send([EMAIL])
        await channel.send([SMS])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"no provider configured: messages are written to {tmp_path}"]


async def test_file_channel_reports_an_unwritable_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    receipts = await file_channel(blocker / "outbox").send([EMAIL, SMS])
    assert all(isinstance(r.error, ChannelConfigError) for r in receipts)


async def test_file_channel_refuses_a_header_injection(tmp_path: Path) -> None:
    bad = OutboundMessage(
        "m-3", "email", "ada@example.com", "c@acme.example", "x", subject="a\nBcc: x@y"
    )
    [receipt] = await file_channel(tmp_path).send([bad])
    assert isinstance(receipt.error, PermanentError)


async def test_memory_channel_records_and_fails_on_demand() -> None:
    channel = MemoryChannel()
    channel.fail("+4915112345678", PermanentError("unsubscribed", code="21610", opt_out=True))
    receipts = await channel.send([EMAIL, SMS])
    assert receipts[0].ok and receipts[0].provider_id == "memory-m-1"
    assert isinstance(receipts[1].error, PermanentError) and receipts[1].error.opt_out
    assert channel.sent == [EMAIL] and channel.attempts == [EMAIL, SMS] and channel.batches == [2]
    assert channel.sent_to("ada@example.com") == [EMAIL]
    channel.recover("+4915112345678")
    assert (await channel.send([SMS]))[0].ok
    await channel.aclose()
    assert channel.closed and ShippedMemoryChannel is MemoryChannel


def test_every_builtin_satisfies_the_protocol(tmp_path: Path) -> None:
    assert set(registry.builtin_channels()) == {"sendgrid", "twilio", "file", "memory"}
    assert registry.load_channel_class("sendgrid") is SendgridChannel
    assert registry.load_channel_class("twilio") is TwilioChannel
    assert isinstance(MemoryChannel(), Channel)
    assert isinstance(file_channel(tmp_path), Channel)


REPOSITORY = Path(__file__).resolve().parents[2]


def test_every_builtin_describes_itself() -> None:
    """What it serves, its settings model, a setup page that exists, built by from_config."""
    served = {name: cls.serves for name, cls in registry.builtin_channels().items()}
    assert served == {
        "sendgrid": {"email"},
        "twilio": {"sms", "whatsapp"},
        "file": {"email", "sms", "whatsapp"},
        "memory": {"email", "sms", "whatsapp"},
    }
    for name, cls in registry.builtin_channels().items():
        assert cls.name == name
        assert issubclass(cls.settings_model, ChannelSettings)
        assert (REPOSITORY / cls.setup_url).is_file(), cls.setup_url
    assert [n for n, c in registry.builtin_channels().items() if c.needs_public_url] == [
        "sendgrid",
        "twilio",
    ]


def test_from_config_reads_the_settings_from_the_given_environment(tmp_path: Path) -> None:
    env = {"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t", "NURTURE_INBOUND_DOMAIN": "in.x"}
    config = ChannelConfig(env, tmp_path, "https://hooks.example", lambda: NOW)
    twilio = TwilioChannel.from_config(config)
    assert twilio.settings.account_sid == "AC1"
    assert twilio.settings.status_callback_url == "https://hooks.example/webhooks/twilio/status"
    files = FileChannel.from_config(config)
    assert files.settings.directory == tmp_path / "outbox"
    assert files.settings.inbound_domain == "in.x"


def test_a_missing_setting_names_its_variable_and_the_setup_page(tmp_path: Path) -> None:
    config = ChannelConfig({"TWILIO_ACCOUNT_SID": "AC1"}, tmp_path, "https://h.example", utcnow)
    with pytest.raises(ChannelConfigError) as raised:
        TwilioChannel.from_config(config)
    assert str(raised.value) == (
        "the twilio channel needs TWILIO_AUTH_TOKEN (see docs/how-to/twilio.md)"
    )
    with pytest.raises(ChannelConfigError, match=r"needs SENDGRID_API_KEY \(see docs/how-to/"):
        SendgridChannel.from_config(config)


class PigeonChannel:
    """A third-party channel describing itself as the built-ins do."""

    name = "pigeon"
    title = "Pigeon post"
    serves = frozenset({"sms"})
    settings_model = ChannelSettings
    setup_url = "https://pigeon.example/setup"
    needs_public_url = False

    @classmethod
    def from_config(cls, config: ChannelConfig) -> PigeonChannel:
        return cls()


class MuteChannel:
    name = "mute"


def _entry(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=registry.GROUP)


def test_entry_point_channels_load(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = _entry("pigeon", f"{__name__}:PigeonChannel")
    monkeypatch.setattr(registry, "entry_points", lambda group: [entry])
    assert registry.load_channel_class("pigeon") is PigeonChannel
    assert "pigeon" in registry.channel_names()


@pytest.mark.parametrize(
    "entries",
    [
        [_entry("sendgrid", "evil:Channel")],
        [_entry("pigeon", "a:One"), _entry("pigeon", "b:Two")],
    ],
)
def test_a_duplicate_name_is_an_error(
    monkeypatch: pytest.MonkeyPatch, entries: list[EntryPoint]
) -> None:
    monkeypatch.setattr(registry, "entry_points", lambda group: entries)
    with pytest.raises(ChannelConfigError, match="registered twice"):
        registry.load_channel_class("memory")


def test_unknown_and_broken_channels_are_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    entries = [
        _entry("broken", "no_such_module_xyz:Channel"),
        _entry("notaclass", "os.path:sep"),
        _entry("mute", f"{__name__}:MuteChannel"),
    ]
    monkeypatch.setattr(registry, "entry_points", lambda group: entries)
    with pytest.raises(ChannelConfigError, match=r"unknown channel .fax.*file, memory"):
        registry.load_channel_class("fax")
    with pytest.raises(ChannelConfigError, match="fails to load"):
        registry.load_channel_class("broken")
    with pytest.raises(ChannelConfigError, match="not a class"):
        registry.load_channel_class("notaclass")
    with pytest.raises(ChannelConfigError, match="does not describe itself: no title, serves"):
        registry.load_channel_class("mute")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "120"}, 120.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"Retry-After": "Mon, 02 Mar 2026 09:01:00 GMT"}, 60.0),
        ({"Retry-After": "Mon, 02 Mar 2026 08:00:00 GMT"}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({"X-RateLimit-Reset": str(int(NOW.timestamp()) + 30)}, 30.0),
        ({}, None),
    ],
)
def test_retry_after_parsing(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after(headers, NOW) == expected


def test_backoff_grows_with_full_jitter_and_is_capped() -> None:
    policy = RetryPolicy(max_retries=10, base_delay=0.5, max_wait=30.0)
    error = TransientError("503")
    assert [policy.delay(n, error, lambda: 1.0) for n in range(4)] == [0.5, 1.0, 2.0, 4.0]
    assert [policy.delay(n, error, lambda: 0.0) for n in range(4)] == [0.25, 0.5, 1.0, 2.0]
    assert policy.delay(12, error, lambda: 1.0) == 30.0
    waited = TransientError("429", retry_after=7.0)
    assert policy.delay(0, waited, lambda: 0.5) == 7.25
