"""Twilio through the real ASGI app: inbound SMS (replies, STOP, START) and status callbacks,
signed with Twilio's own RequestValidator algorithm over the public URL."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import pytest
from webapp_support import (
    PUBLIC_URL,
    add_sent_sms,
    add_talent,
    chunks,
    client,
    config,
    counts,
    engagements,
    sms,
    talent,
    twilio_post,
    workspace,
)

from engine.core.clock import ManualClock
from engine.store.database import Database

pytestmark = pytest.mark.anyio
MESSAGES, STATUS = "/webhooks/twilio/messages", "/webhooks/twilio/status"
PHONE = "+4915112340000"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return workspace(tmp_path)


async def test_an_sms_reply_is_classified_and_answered_with_empty_twiml(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    maya = add_talent(db, clock(), phone=PHONE)
    post = twilio_post(MESSAGES, sms("SM1", "Ja, gerne! Rufen Sie mich an."))
    async with client(config(root, db_url), db, clock) as http:
        first = await http.post(MESSAGES, **post)
        again = await http.post(MESSAGES, **post)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"].startswith("application/xml")
    assert first.text.endswith("<Response></Response>")
    assert again.status_code == 200
    (reply,) = engagements(db, kind="replied")  # the replay is counted once
    assert (reply.talent_id, reply.channel, reply.data["intent"]) == (maya, "sms", "interested")


async def test_stop_opts_out_of_sms_and_start_opts_back_in(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    maya = add_talent(db, clock(), phone=PHONE, email="maya@example.net")
    add_sent_sms(db, maya, PHONE, clock())
    async with client(config(root, db_url), db, clock) as http:
        await http.post(MESSAGES, **twilio_post(MESSAGES, sms("SM2", "STOP")))
        stopped = talent(db, maya)
        clock.advance(hours=1)
        await http.post(MESSAGES, **twilio_post(MESSAGES, sms("SM3", "start")))
    assert stopped.sms_opted_out_at is not None
    assert stopped.email_opted_out_at is None  # per channel
    assert talent(db, maya).sms_opted_out_at is None
    assert [e.kind for e in engagements(db, talent_id=maya, provider="twilio")] == [
        "opted_out", "opted_in"
    ]  # fmt: skip


async def test_a_text_from_a_number_we_never_wrote_to_can_only_opt_out(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    """Twilio signs the sender's number, but a talent's number we never texted proves no
    conversation: the interested reply is kept unverified and acts on nothing; START does
    not re-subscribe; STOP is honoured."""
    maya = add_talent(db, clock(), phone=PHONE, email="maya@example.net")
    async with client(config(root, db_url), db, clock) as http:
        await http.post(MESSAGES, **twilio_post(MESSAGES, sms("SM6", "Ja, gerne! Ruf an.")))
        interested = talent(db, maya)
        await http.post(MESSAGES, **twilio_post(MESSAGES, sms("SM7", "STOP")))
        clock.advance(hours=1)
        await http.post(MESSAGES, **twilio_post(MESSAGES, sms("SM8", "START")))
    (reply,) = engagements(db, kind="replied")
    assert (reply.talent_id, reply.data["intent"], reply.data["verified"]) == (
        maya, "interested", False
    )  # fmt: skip
    assert interested.stage == "person" and counts(db)["tasks"] == 0
    assert talent(db, maya).sms_opted_out_at is not None  # STOP held, START ignored


async def test_an_sms_reply_from_a_number_we_texted_is_verified(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    maya = add_talent(db, clock(), phone=PHONE, email="maya@example.net")
    add_sent_sms(db, maya, PHONE, clock())
    async with client(config(root, db_url), db, clock) as http:
        await http.post(MESSAGES, **twilio_post(MESSAGES, sms("SM6", "Ja, gerne! Ruf an.")))
    (reply,) = engagements(db, kind="replied")
    assert (reply.data["intent"], reply.data["verified"]) == ("interested", True)
    assert talent(db, maya).stage == "candidate" and counts(db)["tasks"] == 1


async def test_a_whatsapp_reply_is_matched_by_its_number(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    maya = add_talent(db, clock(), phone=PHONE)
    params = sms("SM4", "Kein Interesse, danke.", sender=f"whatsapp:{PHONE}")
    async with client(config(root, db_url), db, clock) as http:
        response = await http.post(MESSAGES, **twilio_post(MESSAGES, params))
    assert response.status_code == 200
    (reply,) = engagements(db, kind="replied")
    assert (reply.talent_id, reply.channel, reply.data["intent"]) == (
        maya, "whatsapp", "not_interested"
    )  # fmt: skip


async def test_a_status_callback_is_stored_once(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    path = f"{STATUS}?message_id=abc123"
    params = {"MessageSid": "SM9", "MessageStatus": "delivered", "To": PHONE, "From": "+4915"}
    post = twilio_post(STATUS, params, url=f"{PUBLIC_URL}{path}")
    async with client(config(root, db_url), db, clock) as http:
        first = await http.post(path, **post)
        again = await http.post(path, **post)
    assert (first.status_code, again.status_code) == (204, 204)
    (row,) = engagements(db, provider="twilio")
    assert (row.kind, row.provider_event_id) == ("delivered", "SM9:delivered")


def _rejected() -> dict[str, tuple[str, dict[str, object]]]:
    params = sms("SM5", "STOP")
    good = twilio_post(MESSAGES, params)
    return {
        "wrong token": (MESSAGES, twilio_post(MESSAGES, params, token="not-the-token")),
        "no signature": (MESSAGES, {"data": params}),
        "altered body": (MESSAGES, {**good, "data": {**params, "Body": "START"}}),
        "signed for another URL": (
            MESSAGES, twilio_post(MESSAGES, params, url="https://evil.example" + MESSAGES)
        ),
        "signed for another path": (STATUS, good),
        "query added after signing": (f"{MESSAGES}?x=1", good),
    }  # fmt: skip


async def test_forged_twilio_requests_get_403_and_write_nothing(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    add_talent(db, clock(), phone=PHONE)
    before = counts(db)
    async with client(config(root, db_url), db, clock) as http:
        for case, (path, post) in _rejected().items():
            response = await http.post(path, **post)  # type: ignore[arg-type]
            assert response.status_code == 403, case
    assert counts(db) == before
    assert talent(db, 1).sms_opted_out_at is None


async def test_without_an_auth_token_twilio_requests_are_refused(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    async with client(config(root, db_url, TWILIO_AUTH_TOKEN=""), db, clock) as http:
        response = await http.post(MESSAGES, **twilio_post(MESSAGES, sms("SM6", "hi")))
    assert response.status_code == 403
    assert "TWILIO_AUTH_TOKEN" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "params", "reason"),
    [
        (MESSAGES, {"From": PHONE, "Body": "hi"}, "lacks MessageSid"),
        (MESSAGES, {**sms("SM7", "hi"), "NumMedia": "many"}, "NumMedia"),
        (STATUS, {"MessageSid": "SM8", "MessageStatus": "teleported"}, "unknown Twilio"),
    ],
)
async def test_malformed_signed_posts_get_400(
    root: Path,
    db: Database,
    db_url: str,
    clock: ManualClock,
    path: str,
    params: dict[str, str],
    reason: str,
) -> None:
    async with client(config(root, db_url), db, clock) as http:
        response = await http.post(path, **twilio_post(path, params))
    assert response.status_code == 400
    assert reason in response.json()["detail"]
    assert counts(db)["engagements"] == 0


@pytest.mark.parametrize(
    ("path", "params", "kind"),
    [
        (MESSAGES, {**sms("SM10", "STOP"), "AddOns": "x" * 5000}, "opted_out"),
        (STATUS, {"MessageSid": "SM11", "MessageStatus": "delivered", "To": PHONE,
                  "From": "+4915", "ErrorMessage": "x" * 5000}, "delivered"),
    ],
)  # fmt: skip
async def test_oversized_twilio_posts_get_413_announced_or_streamed(
    root: Path,
    db: Database,
    db_url: str,
    clock: ManualClock,
    path: str,
    params: dict[str, str],
    kind: str,
) -> None:
    maya = add_talent(db, clock(), phone=PHONE)
    post = twilio_post(path, params)
    body = urlencode(params).encode()
    headers = {**post["headers"], "Content-Type": "application/x-www-form-urlencoded"}
    before = counts(db)
    async with client(config(root, db_url), db, clock, max_body=len(body) - 1) as http:
        announced = await http.post(path, content=body, headers=headers)
        streamed = await http.post(path, content=chunks(body, 1024), headers=headers)
    assert (announced.status_code, streamed.status_code) == (413, 413)
    assert "Content-Length" not in streamed.request.headers
    assert announced.json()["error"] == streamed.json()["error"] == "too_large"
    assert counts(db) == before
    assert talent(db, maya).sms_opted_out_at is None
    async with client(config(root, db_url), db, clock, max_body=len(body)) as http:
        accepted = await http.post(path, content=chunks(body, 1024), headers=headers)
    assert accepted.status_code in (200, 204), accepted.text  # the same post, within the limit
    assert len(engagements(db, provider="twilio", kind=kind)) == 1
