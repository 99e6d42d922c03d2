"""SendGrid Mail Send: the exact JSON posted, and every response class mapped to a receipt."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from channels.base import OutboundMessage
from channels.errors import ChannelConfigError, InDoubtError, PermanentError, TransientError
from channels.sendgrid import SendgridChannel, SendgridSettings

pytestmark = pytest.mark.anyio

API = "https://api.sendgrid.com"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

FIRST = OutboundMessage(
    message_id="m-1",
    channel="email",
    to="ada@example.com",
    sender="charlotte@acme.example",
    sender_name="Charlotte Bellet",
    subject="Ada, a question about Acme",
    text="Hi Ada,\n\nten minutes this week?\n\nCharlotte",
    html="<p>Hi Ada,</p><p>ten minutes this week?</p>",
    headers={"Message-ID": "<m-1@nurture.acme.example>"},
    talent_id=7,
    enrollment_id=42,
    campaign="berlin-backend-q1",
    step_id="intro",
    reply_token="tok1",
    unsubscribe_url="https://nurture.acme.example/unsubscribe/7.email.sig",
)
FOLLOWUP = OutboundMessage(
    message_id="m-2",
    channel="email",
    to="ada@example.com",
    sender="charlotte@acme.example",
    sender_name="Charlotte Bellet",
    subject="Re: Ada, a question about Acme",
    text="Hi Ada, bumping this up.",
    headers={
        "Message-ID": "<m-2@nurture.acme.example>",
        "In-Reply-To": "<m-1@nurture.acme.example>",
        "References": "<m-1@nurture.acme.example>",
    },
    enrollment_id=42,
    campaign="berlin-backend-q1",
    step_id="followup",
    reply_token="tok2",
)


def settings(**overrides: Any) -> SendgridSettings:
    values: dict[str, Any] = {
        "api_key": SecretStr("SG.test-key"),
        "inbound_domain": "reply.acme.example",
        **overrides,
    }
    return SendgridSettings(**values)


class Sleeps:
    """The injected sleep: records each wait, never waits."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def channel(
    client: httpx.AsyncClient, sleeps: Sleeps | None = None, **overrides: Any
) -> SendgridChannel:
    return SendgridChannel(
        settings(**overrides), client, sleep=sleeps or Sleeps(), clock=lambda: NOW, rand=lambda: 0.0
    )


def accepted(message_id: str = "sg-abc") -> httpx.Response:
    return httpx.Response(202, headers={"X-Message-Id": message_id})


@respx.mock
async def test_first_email_posts_the_exact_json(client: httpx.AsyncClient) -> None:
    route = respx.post(f"{API}/v3/mail/send").mock(return_value=accepted("Xs8ZxEqRQ7C9"))
    [receipt] = await channel(client).send([FIRST])
    assert receipt.ok and receipt.provider_id == "Xs8ZxEqRQ7C9" and receipt.message_id == "m-1"
    request = route.calls.last.request
    assert request.headers["Authorization"] == "Bearer SG.test-key"
    assert json.loads(request.content) == {
        "from": {"name": "Charlotte Bellet", "email": "charlotte@acme.example"},
        "subject": "Ada, a question about Acme",
        "personalizations": [{"to": [{"email": "ada@example.com"}]}],
        "content": [
            {"type": "text/plain", "value": "Hi Ada,\n\nten minutes this week?\n\nCharlotte"},
            {"type": "text/html", "value": "<p>Hi Ada,</p><p>ten minutes this week?</p>"},
        ],
        "headers": {
            "Message-ID": "<m-1@nurture.acme.example>",
            "List-Unsubscribe": "<https://nurture.acme.example/unsubscribe/7.email.sig>, "
            "<mailto:unsubscribe+tok1@reply.acme.example>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        "categories": ["berlin-backend-q1", "berlin-backend-q1:intro"],
        "custom_args": {
            "message_id": "m-1",
            "enrollment_id": "42",
            "campaign": "berlin-backend-q1",
            "step_id": "intro",
        },
        "tracking_settings": {
            "click_tracking": {"enable": True, "enable_text": False},
            "open_tracking": {"enable": True},
            "subscription_tracking": {"enable": False},
        },
        "reply_to": {"name": "Charlotte Bellet", "email": "reply+tok1@reply.acme.example"},
    }


@respx.mock
async def test_threaded_followup_posts_the_exact_json(client: httpx.AsyncClient) -> None:
    route = respx.post(f"{API}/v3/mail/send").mock(return_value=accepted())
    ours = channel(client, track_opens=False, track_clicks=False, sandbox=True)
    [receipt] = await ours.send([FOLLOWUP])
    assert receipt.ok
    assert json.loads(route.calls.last.request.content) == {
        "from": {"name": "Charlotte Bellet", "email": "charlotte@acme.example"},
        "subject": "Re: Ada, a question about Acme",
        "personalizations": [{"to": [{"email": "ada@example.com"}]}],
        "content": [{"type": "text/plain", "value": "Hi Ada, bumping this up."}],
        "headers": {
            "Message-ID": "<m-2@nurture.acme.example>",
            "In-Reply-To": "<m-1@nurture.acme.example>",
            "References": "<m-1@nurture.acme.example>",
        },
        "categories": ["berlin-backend-q1", "berlin-backend-q1:followup"],
        "custom_args": {
            "message_id": "m-2",
            "enrollment_id": "42",
            "campaign": "berlin-backend-q1",
            "step_id": "followup",
        },
        "mail_settings": {"sandbox_mode": {"enable": True}},
        "tracking_settings": {
            "click_tracking": {"enable": False, "enable_text": False},
            "open_tracking": {"enable": False},
            "subscription_tracking": {"enable": False},
        },
        "reply_to": {"name": "Charlotte Bellet", "email": "reply+tok2@reply.acme.example"},
    }


@respx.mock
async def test_base_url_is_overridable(client: httpx.AsyncClient) -> None:
    route = respx.post("http://127.0.0.1:8025/v3/mail/send").mock(return_value=accepted())
    [receipt] = await channel(client, base_url="http://127.0.0.1:8025/").send([FIRST])
    assert receipt.ok and route.call_count == 1


def _errors(field: str | None, message: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "field": field, "help": None}]}


@pytest.mark.parametrize(
    ("response", "error_type", "code"),
    [
        (httpx.Response(401, json=_errors(None, "bad key")), ChannelConfigError, None),
        (httpx.Response(403, json=_errors(None, "sender not verified")), ChannelConfigError, None),
        (
            httpx.Response(
                400,
                json=_errors("personalizations.0.to.0.email", "Does not contain a valid address."),
            ),
            PermanentError,
            "invalid_address",
        ),
        (httpx.Response(400, json=_errors("from.email", "invalid from")), ChannelConfigError, None),
        (httpx.Response(413, text="too large"), PermanentError, "413"),
        (httpx.Response(429, json=_errors(None, "too many")), TransientError, "429"),
        (httpx.Response(500, text="oops"), TransientError, "500"),
        (httpx.Response(503, text="down"), TransientError, "503"),
    ],
)
@respx.mock
async def test_each_response_class_becomes_its_error(
    client: httpx.AsyncClient, response: httpx.Response, error_type: type, code: str | None
) -> None:
    route = respx.post(f"{API}/v3/mail/send").mock(return_value=response)
    sleeps = Sleeps()
    [receipt] = await channel(client, sleeps, max_retries=2).send([FIRST])
    assert type(receipt.error) is error_type and receipt.provider_id is None
    if code is not None:
        assert getattr(receipt.error, "code", None) == code
    transient = error_type is TransientError
    assert route.call_count == (3 if transient else 1)  # only transient errors are retried
    assert len(sleeps.waits) == (2 if transient else 0)


@respx.mock
async def test_a_request_that_never_left_is_retried(client: httpx.AsyncClient) -> None:
    route = respx.post(f"{API}/v3/mail/send").mock(
        side_effect=[httpx.ConnectTimeout("slow"), httpx.ConnectError("refused"), accepted("sg-ok")]
    )
    sleeps = Sleeps()
    [receipt] = await channel(client, sleeps).send([FIRST])
    assert receipt.ok and receipt.provider_id == "sg-ok" and route.call_count == 3
    assert sleeps.waits == [0.25, 0.5]  # backoff 0.5 * 2**n with jitter at its floor (x0.5)


@pytest.mark.parametrize(
    "lost",
    [httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("closed"), httpx.ReadError("reset")],
)
@respx.mock
async def test_a_request_sent_but_unanswered_is_in_doubt_and_never_sent_again(
    client: httpx.AsyncClient, lost: httpx.TransportError
) -> None:
    """SendGrid may have accepted it: a second POST could deliver the email twice."""
    route = respx.post(f"{API}/v3/mail/send").mock(side_effect=[lost, accepted("sg-2")])
    sleeps = Sleeps()
    [receipt] = await channel(client, sleeps).send([FIRST])
    assert isinstance(receipt.error, InDoubtError) and route.call_count == 1
    assert sleeps.waits == []


@respx.mock
async def test_transient_error_is_returned_after_max_retries(client: httpx.AsyncClient) -> None:
    respx.post(f"{API}/v3/mail/send").mock(return_value=httpx.Response(502))
    sleeps = Sleeps()
    [receipt] = await channel(client, sleeps, max_retries=3).send([FIRST])
    assert isinstance(receipt.error, TransientError)
    assert len(sleeps.waits) == 3


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "Mon, 02 Mar 2026 09:00:12 GMT"}, 12.0),
        ({"X-RateLimit-Reset": str(int(NOW.timestamp()) + 4)}, 4.0),
    ],
)
@respx.mock
async def test_retry_after_is_honoured(
    client: httpx.AsyncClient, headers: dict[str, str], wait: float
) -> None:
    route = respx.post(f"{API}/v3/mail/send").mock(
        side_effect=[httpx.Response(429, headers=headers), accepted()]
    )
    sleeps = Sleeps()
    [receipt] = await channel(client, sleeps).send([FIRST])
    assert receipt.ok and route.call_count == 2
    assert sleeps.waits == [wait]


@respx.mock
async def test_retry_after_longer_than_allowed_is_left_to_the_engine(
    client: httpx.AsyncClient,
) -> None:
    route = respx.post(f"{API}/v3/mail/send").mock(
        return_value=httpx.Response(429, headers={"Retry-After": "3600"})
    )
    sleeps = Sleeps()
    [receipt] = await channel(client, sleeps, max_retry_wait=30).send([FIRST])
    assert isinstance(receipt.error, TransientError) and receipt.error.retry_after == 3600
    assert route.call_count == 1 and sleeps.waits == []


@respx.mock
async def test_auth_error_stops_the_rest_of_the_batch(client: httpx.AsyncClient) -> None:
    route = respx.post(f"{API}/v3/mail/send").mock(return_value=httpx.Response(401))
    batch = [FIRST, FOLLOWUP, FIRST]
    receipts = await channel(client, concurrency=1).send(batch)
    assert [type(r.error) for r in receipts] == [ChannelConfigError] * 3
    assert route.call_count == 1  # the queue is not burnt against a rejected key


@respx.mock
async def test_receipts_come_back_in_order_with_mixed_outcomes(client: httpx.AsyncClient) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        to = json.loads(request.content)["personalizations"][0]["to"][0]["email"]
        if to.startswith("bad"):
            return httpx.Response(400, json=_errors("personalizations.0.to.0.email", "invalid"))
        return accepted(f"id-{to}")

    respx.post(f"{API}/v3/mail/send").mock(side_effect=answer)
    batch = [
        OutboundMessage(
            f"m{i}", "email", f"{kind}{i}@example.com", "c@acme.example", "t", subject="s"
        )
        for i, kind in enumerate(["ok", "bad", "ok"])
    ]
    receipts = await channel(client).send(batch)
    assert [r.message_id for r in receipts] == ["m0", "m1", "m2"]
    assert [r.provider_id for r in receipts] == ["id-ok0@example.com", None, "id-ok2@example.com"]
    assert isinstance(receipts[1].error, PermanentError)


async def test_a_message_that_is_not_an_email_is_a_permanent_error(
    client: httpx.AsyncClient,
) -> None:
    sms = OutboundMessage("m9", "sms", "+4915112345678", "+4915100000000", "hi")
    [receipt] = await channel(client).send([sms])
    assert isinstance(receipt.error, PermanentError) and receipt.error.code == "payload"


@respx.mock
async def test_concurrency_never_exceeds_its_bound(client: httpx.AsyncClient) -> None:
    in_flight, peak = 0, 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(5):
            await asyncio.sleep(0)  # yield to the other sends, no wall-clock wait
        in_flight -= 1
        return accepted()

    respx.post(f"{API}/v3/mail/send").mock(side_effect=slow)
    batch = [FIRST] * 60
    receipts = await channel(client, concurrency=7).send(batch)
    assert all(r.ok for r in receipts) and len(receipts) == 60
    assert peak == 7
    # The bound is the channel's: batches sent at the same time (the dispatcher's lanes)
    # share it instead of taking seven calls each.
    peak = 0
    shared = channel(client, concurrency=7)
    lanes = await asyncio.gather(*(shared.send([FIRST] * 20) for _ in range(4)))
    assert [len(receipts) for receipts in lanes] == [20] * 4
    assert peak == 7


@respx.mock
async def test_a_backoff_holds_no_sending_slot(client: httpx.AsyncClient) -> None:
    """With one slot, the second message goes out while the first waits to retry."""
    order: list[str] = []
    second_sent = asyncio.Event()

    def provider(request: httpx.Request) -> httpx.Response:
        to = json.loads(request.content)["personalizations"][0]["to"][0]["email"]
        order.append(to)
        if to == "ada@example.com" and order.count(to) == 1:
            return httpx.Response(503)
        if to == "bob@example.com":
            second_sent.set()
        return accepted(f"sg-{to}")

    async def backoff(seconds: float) -> None:
        await asyncio.wait_for(second_sent.wait(), timeout=5)  # no wall clock otherwise

    respx.post(f"{API}/v3/mail/send").mock(side_effect=provider)
    second = replace(FIRST, message_id="m-2", to="bob@example.com")
    sendgrid = SendgridChannel(settings(concurrency=1), client, sleep=backoff, rand=lambda: 0.0)
    first, other = await sendgrid.send([FIRST, second])
    assert order == ["ada@example.com", "bob@example.com", "ada@example.com"]
    assert (first.provider_id, other.provider_id) == ("sg-ada@example.com", "sg-bob@example.com")


@respx.mock
async def test_a_bug_in_a_send_is_raised_not_hung(client: httpx.AsyncClient) -> None:
    respx.post(f"{API}/v3/mail/send").mock(side_effect=RuntimeError("bug"))
    with pytest.raises(RuntimeError, match="bug"):
        await asyncio.wait_for(channel(client, concurrency=3).send([FIRST] * 5), timeout=5)


async def test_an_owned_client_is_closed_and_an_injected_one_is_not() -> None:
    owned = SendgridChannel(settings())
    await owned.aclose()
    assert owned._http.is_closed
    async with httpx.AsyncClient() as injected:
        await SendgridChannel(settings(), injected).aclose()
        assert not injected.is_closed


@respx.mock  # no route: any request would fail the test
async def test_a_text_the_sendgrid_helpers_refuse_is_a_permanent_error(
    client: httpx.AsyncClient,
) -> None:
    leaky = OutboundMessage(
        "m8", "email", "a@example.com", "c@acme.example", "SG.abc.def", subject="s"
    )
    [receipt] = await channel(client).send([leaky])
    assert isinstance(receipt.error, PermanentError) and receipt.error.code == "payload"
