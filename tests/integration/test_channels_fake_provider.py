"""The real adapters over real sockets against the loopback fake provider (its own process)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from channels.base import OutboundMessage
from channels.errors import ChannelConfigError, PermanentError
from channels.sendgrid import SendgridChannel, SendgridSettings
from channels.testing import FakeProvider
from channels.transport import ShardedTransport
from channels.twilio import TwilioChannel, TwilioSettings

pytestmark = pytest.mark.anyio

SID = "AC" + "0" * 32
FAILING = {"bounce@example.com": 400, "+4915199999999": 400, "locked@example.com": 401}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(latency=0.005, failures=FAILING) as provider:
        yield provider


@pytest.fixture(autouse=True)
def _clean(fake: FakeProvider) -> None:
    fake.reset()


def emails(count: int, to: str = "talent{i}@example.com") -> list[OutboundMessage]:
    return [
        OutboundMessage(
            f"e{i}", "email", to.format(i=i), "c@acme.example", "Hello", subject="Hi", campaign="c"
        )
        for i in range(count)
    ]


async def test_sendgrid_adapter_reaches_the_fake_once_per_message(fake: FakeProvider) -> None:
    settings = SendgridSettings(api_key=SecretStr("SG.x"), base_url=fake.url, concurrency=25)
    channel = SendgridChannel(settings)
    try:
        receipts = await channel.send(emails(120))
        transport = channel._http._transport
        assert isinstance(transport, ShardedTransport) and transport.pools == 5
        assert transport._busy == [0] * 5  # every pool slot released
    finally:
        await channel.aclose()
    assert all(r.ok and r.provider_id and r.provider_id.startswith("fake") for r in receipts)
    assert len({r.provider_id for r in receipts}) == 120
    assert fake.counts() == {f"e{i}": 1 for i in range(120)}


async def test_sendgrid_failures_from_the_fake_are_classified(fake: FakeProvider) -> None:
    settings = SendgridSettings(api_key=SecretStr("SG.x"), base_url=fake.url, concurrency=1)
    channel = SendgridChannel(settings)
    batch = [
        *emails(1, "bounce@example.com"),
        OutboundMessage("e9", "email", "locked@example.com", "c@acme.example", "x", subject="s"),
        *emails(1),
    ]
    try:
        receipts = await channel.send(batch)
    finally:
        await channel.aclose()
    assert isinstance(receipts[0].error, PermanentError)
    assert (
        isinstance(receipts[0].error, PermanentError)
        and receipts[0].error.code == "invalid_address"
    )
    assert isinstance(receipts[1].error, ChannelConfigError)
    assert isinstance(receipts[2].error, ChannelConfigError)  # not attempted after the 401
    assert fake.counts() == {"e0": 1, "e9": 1}


async def test_twilio_adapter_reaches_the_fake_once_per_message(fake: FakeProvider) -> None:
    settings = TwilioSettings(
        account_sid=SID,
        auth_token=SecretStr("token"),
        base_url=fake.url,
        status_callback_url="https://nurture.example/webhooks/twilio/status",
    )
    channel = TwilioChannel(settings)
    batch = [
        OutboundMessage("s1", "sms", "+4915112345678", "+4915100000000", "Hi"),
        OutboundMessage("w1", "whatsapp", "+4915112345678", "+4915100000000", "Hi"),
        OutboundMessage("s2", "sms", "+4915199999999", "+4915100000000", "Hi"),
    ]
    try:
        receipts = await channel.send(batch)
    finally:
        await channel.aclose()
    assert receipts[0].ok and receipts[0].provider_id and receipts[0].provider_id.startswith("SM")
    assert receipts[0].segments == 1 and receipts[1].ok
    assert isinstance(receipts[2].error, PermanentError) and receipts[2].error.code == "21211"
    assert fake.counts() == {"s1": 1, "w1": 1, "s2": 1}


def test_env_points_nurture_at_the_fake(fake: FakeProvider) -> None:
    assert fake.env() == {
        "NURTURE_SENDGRID_BASE_URL": fake.url,
        "NURTURE_TWILIO_BASE_URL": fake.url,
    }
    assert fake.url.startswith("http://127.0.0.1:")
