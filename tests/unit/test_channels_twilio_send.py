"""Twilio Messages API through the real twilio Client on httpx: form bodies and error codes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from pydantic import SecretStr

from channels.base import OutboundMessage
from channels.errors import ChannelConfigError, InDoubtError, PermanentError, TransientError
from channels.twilio import TwilioChannel, TwilioSettings

pytestmark = pytest.mark.anyio

SID = "AC" + "0" * 32
MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CALLBACK = "https://nurture.acme.example/webhooks/twilio/status"

SMS = OutboundMessage(
    message_id="m-7",
    channel="sms",
    to="+4915112345678",
    sender="+4915100000000",
    text="Hi Ada, Charlotte here. Ten minutes this week?",
    campaign="berlin-backend-q1",
    step_id="nudge",
)
WHATSAPP = OutboundMessage(
    message_id="m-8",
    channel="whatsapp",
    to="+4915112345678",
    sender="+4915100000000",
    text="Hi Ada 👋",
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def channel(
    client: httpx.AsyncClient, sleeps: Sleeps | None = None, **overrides: Any
) -> TwilioChannel:
    values: dict[str, Any] = {
        "account_sid": SID,
        "auth_token": SecretStr("token"),
        "status_callback_url": CALLBACK,
        **overrides,
    }
    return TwilioChannel(
        TwilioSettings(**values),
        client,
        sleep=sleeps or Sleeps(),
        clock=lambda: NOW,
        rand=lambda: 0.0,
    )


def created(sid: str = "SM" + "a" * 32, segments: str = "1") -> httpx.Response:
    body = {"sid": sid, "account_sid": SID, "status": "queued", "num_segments": segments}
    return httpx.Response(201, json=body)


def form(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.content.decode(), keep_blank_values=True)


@respx.mock
async def test_sms_posts_the_exact_form_body(client: httpx.AsyncClient) -> None:
    route = respx.post(MESSAGES).mock(return_value=created(segments="2"))
    [receipt] = await channel(client).send([SMS])
    assert receipt.ok and receipt.provider_id == "SM" + "a" * 32 and receipt.segments == 2
    request = route.calls.last.request
    assert form(request) == {
        "To": ["+4915112345678"],
        "From": ["+4915100000000"],
        "Body": ["Hi Ada, Charlotte here. Ten minutes this week?"],
        "StatusCallback": [f"{CALLBACK}?message_id=m-7"],
    }
    assert request.headers["Authorization"] == httpx.BasicAuth(SID, "token")._auth_header
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"


@respx.mock
async def test_whatsapp_posts_prefixed_addresses(client: httpx.AsyncClient) -> None:
    route = respx.post(MESSAGES).mock(return_value=created())
    [receipt] = await channel(client).send([WHATSAPP])
    assert receipt.ok
    assert form(route.calls.last.request) == {
        "To": ["whatsapp:+4915112345678"],
        "From": ["whatsapp:+4915100000000"],
        "Body": ["Hi Ada 👋"],
        "StatusCallback": [f"{CALLBACK}?message_id=m-8"],
    }


@respx.mock
async def test_a_messaging_service_replaces_the_from_number(client: httpx.AsyncClient) -> None:
    route = respx.post(MESSAGES).mock(return_value=created())
    ours = channel(client, messaging_service_sid="MG" + "1" * 32, status_callback_url=None)
    await ours.send([SMS])
    assert form(route.calls.last.request) == {
        "To": ["+4915112345678"],
        "MessagingServiceSid": ["MG" + "1" * 32],
        "Body": ["Hi Ada, Charlotte here. Ten minutes this week?"],
    }


@respx.mock
async def test_base_url_points_the_twilio_client_at_a_local_server(
    client: httpx.AsyncClient,
) -> None:
    local = f"http://127.0.0.1:8026/2010-04-01/Accounts/{SID}/Messages.json"
    route = respx.post(local).mock(return_value=created())
    [receipt] = await channel(client, base_url="http://127.0.0.1:8026").send([SMS])
    assert receipt.ok and route.call_count == 1


def twilio_error(status: int, code: int, message: str = "error") -> httpx.Response:
    body = {"code": code, "message": message, "more_info": "", "status": status}
    return httpx.Response(status, json=body)


@pytest.mark.parametrize(
    ("response", "error_type", "opt_out", "attempts"),
    [
        (
            twilio_error(400, 21610, "Attempt to send to unsubscribed recipient"),
            PermanentError,
            True,
            1,
        ),
        (twilio_error(400, 21211, "Invalid 'To' Phone Number"), PermanentError, False, 1),
        (
            twilio_error(400, 21614, "'To' number is not a valid mobile number"),
            PermanentError,
            False,
            1,
        ),
        (twilio_error(401, 20003, "Authenticate"), ChannelConfigError, False, 1),
        (
            twilio_error(400, 21606, "The From phone number is not valid"),
            ChannelConfigError,
            False,
            1,
        ),
        (twilio_error(429, 20429, "Too Many Requests"), TransientError, False, 3),
        (twilio_error(500, 20500, "Internal Server Error"), TransientError, False, 3),
        (httpx.Response(503, text="<html>unavailable</html>"), TransientError, False, 3),
    ],
)
@respx.mock
async def test_error_codes_are_mapped(
    client: httpx.AsyncClient,
    response: httpx.Response,
    error_type: type,
    opt_out: bool,
    attempts: int,
) -> None:
    route = respx.post(MESSAGES).mock(return_value=response)
    [receipt] = await channel(client, max_retries=2).send([SMS])
    assert type(receipt.error) is error_type
    assert getattr(receipt.error, "opt_out", False) is opt_out
    assert route.call_count == attempts


@respx.mock
async def test_retry_after_on_429_is_honoured(client: httpx.AsyncClient) -> None:
    limited = twilio_error(429, 20429)
    limited.headers["Retry-After"] = "3"
    route = respx.post(MESSAGES).mock(side_effect=[limited, created()])
    sleeps = Sleeps()
    [receipt] = await channel(client, sleeps).send([SMS])
    assert receipt.ok and route.call_count == 2 and sleeps.waits == [3.0]


@respx.mock
async def test_retry_after_is_read_per_message_under_concurrency(
    client: httpx.AsyncClient,
) -> None:
    calls: dict[str, int] = {}

    async def answer(request: httpx.Request) -> httpx.Response:
        to = form(request)["To"][0]
        calls[to] = calls.get(to, 0) + 1
        await asyncio.sleep(0)
        if calls[to] == 1:
            wait = "5" if to.endswith("1") else "9"
            return httpx.Response(
                429, json={"code": 20429, "message": "slow"}, headers={"Retry-After": wait}
            )
        return created()

    respx.post(MESSAGES).mock(side_effect=answer)
    sleeps = Sleeps()
    batch = [
        OutboundMessage("a", "sms", "+491511", "+49150", "x"),
        OutboundMessage("b", "sms", "+491512", "+49150", "x"),
    ]
    receipts = await channel(client, sleeps).send(batch)
    assert all(r.ok for r in receipts)
    assert sorted(sleeps.waits) == [5.0, 9.0]


@respx.mock
async def test_a_connect_timeout_is_retried(client: httpx.AsyncClient) -> None:
    route = respx.post(MESSAGES).mock(side_effect=[httpx.ConnectTimeout("slow"), created()])
    [receipt] = await channel(client).send([SMS])
    assert receipt.ok and route.call_count == 2


@respx.mock
async def test_a_read_timeout_is_in_doubt_and_not_retried(client: httpx.AsyncClient) -> None:
    """Twilio may have queued the SMS: sending again could text the talent twice."""
    route = respx.post(MESSAGES).mock(side_effect=[httpx.ReadTimeout("slow"), created()])
    [receipt] = await channel(client).send([SMS])
    assert isinstance(receipt.error, InDoubtError) and receipt.error.code == "timeout"
    assert route.call_count == 1


async def test_an_email_is_not_sent_over_twilio(client: httpx.AsyncClient) -> None:
    email = OutboundMessage("m", "email", "a@example.com", "c@acme.example", "x", subject="s")
    [receipt] = await channel(client).send([email])
    assert isinstance(receipt.error, PermanentError) and receipt.error.code == "payload"


@respx.mock
async def test_concurrency_never_exceeds_its_bound(client: httpx.AsyncClient) -> None:
    in_flight, peak = 0, 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(5):
            await asyncio.sleep(0)
        in_flight -= 1
        return created()

    respx.post(MESSAGES).mock(side_effect=slow)
    receipts = await channel(client, concurrency=4).send([SMS] * 30)
    assert all(r.ok for r in receipts) and peak == 4


def listed(*messages: dict[str, Any]) -> httpx.Response:
    page = {"messages": list(messages), "next_page_uri": None, "page": 0, "page_size": 50,
            "uri": "/2010-04-01/Accounts/x/Messages.json"}  # fmt: skip
    return httpx.Response(200, json=page)


def at_twilio(body: str, created: str, sid: str = "SM" + "b" * 32) -> dict[str, Any]:
    return {"sid": sid, "account_sid": SID, "to": SMS.to, "from": SMS.sender, "body": body,
            "status": "delivered", "date_created": created}  # fmt: skip


@respx.mock
async def test_a_message_in_doubt_is_found_by_recipient_sender_body_and_time(
    client: httpx.AsyncClient,
) -> None:
    route = respx.get(MESSAGES).mock(
        return_value=listed(
            at_twilio(SMS.text, "Mon, 02 Mar 2026 08:00:00 +0000", "SM-old"),  # before: not it
            at_twilio("another text", "Mon, 02 Mar 2026 09:01:00 +0000", "SM-other"),
            at_twilio(SMS.text, "Mon, 02 Mar 2026 09:01:00 +0000", "SM-ours"),
        )
    )
    assert await channel(client).lookup(SMS, NOW) == "SM-ours"
    query = route.calls.last.request.url.params
    assert query["To"] == SMS.to and query["From"] == SMS.sender


@respx.mock
async def test_a_message_twilio_never_got_is_not_found(client: httpx.AsyncClient) -> None:
    respx.get(MESSAGES).mock(
        return_value=listed(at_twilio(SMS.text, "Mon, 02 Mar 2026 08:00:00 +0000"))
    )
    assert await channel(client).lookup(SMS, NOW) is None
