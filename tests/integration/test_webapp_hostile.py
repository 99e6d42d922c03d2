"""Hostile provider posts through the real ASGI app, signed, on SQLite and PostgreSQL.

NUL bytes, over-long ids and values, absurdly deep JSON, out-of-range times, odd
``attachment-info``: each gets a 2xx or a 4xx, never a 500, and what is stored is what
docs/webhooks.md says (``channels.cleaning``: NUL removed, long text cut, long ids hashed).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from webapp_support import (
    API_KEY,
    INBOUND_SECRET,
    add_talent,
    client,
    config,
    counts,
    engagements,
    inbound_files,
    sg_event,
    signed_batch,
    sms,
    twilio_post,
    workspace,
)

from channels.cleaning import MAX_ID, MAX_TEXT, bounded_id
from engine.core.clock import ManualClock
from engine.store.database import Database

pytestmark = pytest.mark.anyio
API_AUTH = {"Authorization": f"Bearer {API_KEY}"}
EVENTS_URL = "/webhooks/sendgrid/events"
INBOUND_URL = f"/webhooks/sendgrid/inbound/{INBOUND_SECRET}"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return workspace(tmp_path)


def _hostile_events(clock: ManualClock) -> dict[str, dict[str, Any]]:
    at = clock()
    return {
        "nul": sg_event("bounce", "nul\x00id", at, email="maya\x00@example.net",
                        reason="550\x00 no such user", type="bounce"),
        "long id": sg_event("delivered", "e" * 300, at),
        "long tag": sg_event("click", "tag", at, url="https://acme.example/" + "t" * 100_000,
                             category=["x" * 100_000]),
        "long message id": sg_event("open", "mid", at, message_id="m" * 5_000),
        "long address": sg_event("dropped", "addr", at, email="a" * 10_000 + "@example.net"),
    }  # fmt: skip


@pytest.mark.parametrize("case", list(_hostile_events(ManualClock(datetime.now(UTC)))))
async def test_a_hostile_event_is_stored_cleaned_never_a_500(
    case: str, root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    event = _hostile_events(clock)[case]
    body, headers = signed_batch([event], clock())
    async with client(config(root, db_url), db, clock) as http:
        response = await http.post(EVENTS_URL, content=body, headers=headers)
        again = await http.post(EVENTS_URL, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 1
    assert again.json()["duplicates"] == 1  # the cleaned id still deduplicates
    (row,) = engagements(db, provider="sendgrid")
    assert row.provider_event_id == bounded_id(event["sg_event_id"].replace("\x00", ""))
    assert len(row.provider_event_id) <= MAX_ID
    stored = json.dumps(row.data) + (row.detail or "")
    assert "\x00" not in stored and "\\u0000" not in stored
    assert len(stored) < 3 * MAX_TEXT


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 200_000 + b"]" * 200_000,
        b'[{"event": "open", "sg_event_id": "x", "timestamp": 1e20}]',
        b'[{"event": "open", "sg_event_id": "x", "timestamp": -1e20}]',
        b'[{"event": "open", "sg_event_id": "x", "timestamp": Infinity}]',
        b'[{"event": "open\\u0000", "sg_event_id": "x", "timestamp": 1}, 7]',
    ],
    ids=["deep", "1e20", "-1e20", "infinity", "not an object"],
)
async def test_an_unreadable_batch_is_a_400_and_writes_nothing(
    body: bytes, root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    before = counts(db)
    content, headers = signed_batch(body, clock())
    async with client(config(root, db_url), db, clock) as http:
        response = await http.post(EVENTS_URL, content=content, headers=headers)
    assert response.status_code == 400, response.text
    assert counts(db) == before


def _reply(**fields: Any) -> dict[str, tuple[None, str]]:
    return inbound_files(**fields)


_REPLIES: dict[str, dict[str, Any]] = {
    "long message id": {"message_id": "<" + "m" * 300 + "@mail.example.net>"},
    "nul": {"text": "Yes\x00 please", "subject": "Re:\x00 hi",
            "sender": "Maya <maya\x00@example.net>"},
    "attachment-info list": {"attachment-info": json.dumps([1, 2])},
    "attachment-info of numbers": {"attachment-info": json.dumps({"attachment1": 5})},
    "attachment-info of nul": {"attachment-info": json.dumps({"a": {"filename": "x\x00.pdf"}})},
    "long subject and headers": {"subject": "s" * 100_000,
                                 "extra_headers": {"X-Long": "h" * 100_000}},
    "long text": {"text": "Yes, interested! " + "blah " * 200_000},
}  # fmt: skip


@pytest.mark.parametrize("case", list(_REPLIES))
async def test_a_hostile_reply_is_stored_cleaned_never_a_500(
    case: str, root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    add_talent(db, clock(), email="maya@example.net")
    async with client(config(root, db_url), db, clock) as http:
        response = await http.post(INBOUND_URL, files=_reply(**_REPLIES[case]))
        again = await http.post(INBOUND_URL, files=_reply(**_REPLIES[case]))
    assert response.status_code == 200, response.text
    assert again.status_code == 200 and again.json()["duplicate"] is True
    (row,) = engagements(db, kind="replied")
    assert len(row.provider_event_id or "") <= MAX_ID
    assert len(row.detail or "") <= MAX_TEXT
    assert "\x00" not in (row.detail or "") + json.dumps(row.data)


@pytest.mark.parametrize(
    "params",
    [
        {"MessageSid": "SM" + "x" * 300},
        {"Body": "Hello\x00 there"},
        {"From": "+49" + "1" * 5_000},
        {"NumMedia": "50000000", "MediaUrl0": "https://api.twilio.example/m/0"},
        {"Body": "b" * 900_000},
    ],
    ids=["long sid", "nul", "long from", "num media", "long body"],
)
async def test_a_hostile_sms_is_stored_cleaned_never_a_500(
    params: dict[str, str], root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    form = {**sms("SM1", "Hello"), **params}
    async with client(config(root, db_url), db, clock, max_body=8 * 1024 * 1024) as http:
        response = await http.post("/webhooks/twilio/messages", **twilio_post(
            "/webhooks/twilio/messages", form))  # fmt: skip
    assert response.status_code == 200, response.text
    (row,) = engagements(db, provider="twilio")
    assert len(row.provider_event_id or "") <= MAX_ID
    assert "\x00" not in (row.detail or "") and len(row.detail or "") <= MAX_TEXT


# --- a reply cannot stall the app ---------------------------------------------------------


async def _longest_stall(work: Any) -> float:
    """The longest the event loop went without running a 10 ms ticker while ``work`` ran."""
    loop = asyncio.get_running_loop()
    longest, done = 0.0, asyncio.Event()

    async def ticker() -> None:
        nonlocal longest
        last = loop.time()
        while not done.is_set():
            await asyncio.sleep(0.01)
            longest, last = max(longest, loop.time() - last), loop.time()

    running = asyncio.create_task(ticker())
    try:
        await work
    finally:
        done.set()
        await running
    return longest


async def test_large_replies_do_not_stall_the_loop(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    add_talent(db, clock(), email="maya@example.net")
    text = "Yes, I am interested.\n\n" + "And a long story. " * 230_000  # ~4 MiB
    async with client(config(root, db_url), db, clock) as http:
        posts = [
            http.post(INBOUND_URL, files=_reply(text=text, message_id=f"<big-{i}@x.example>"))
            for i in range(3)
        ]
        healthz = http.get("/healthz")
        answers = asyncio.gather(*posts, healthz)
        stall = await _longest_stall(answers)
        responses = answers.result()
    assert [r.status_code for r in responses] == [200, 200, 200, 200]
    assert all(r.json()["intent"] == "interested" for r in responses[:3])
    assert stall < 1.0, f"the event loop stalled {stall:.2f} s"


async def test_a_burst_of_signed_batches_waits_its_turn_on_sqlite(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    batches = [
        signed_batch([sg_event("delivered", f"b{n}-{i}", clock()) for i in range(10)], clock())
        for n in range(40)
    ]
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL writers do not queue: each has its own connection")
    # One pooled connection, and a second to wait for it: requests that waited for the pool
    # instead of their turn would time out at once.
    narrow = Database(db_url, migrate=False, pool_size=1, max_overflow=0, pool_timeout=1)
    try:
        async with client(config(root, db_url), narrow, clock) as http:
            responses = await asyncio.gather(
                *(http.post(EVENTS_URL, content=b, headers=h) for b, h in batches)
            )
    finally:
        narrow.dispose()
    assert [r.status_code for r in responses] == [200] * 40, {r.text for r in responses}
    assert len(engagements(db, provider="sendgrid")) == 40 * 10


@pytest.mark.parametrize(
    ("talent", "reason"),
    [
        ({"first_name": "Le\x00na"}, "NUL"),
        ({"tags": ["t" * 100_000]}, "talent.tags.0"),
        ({"skills": ["python"] * 1_000}, "talent.skills"),
        ({"email": "lena@example.net\x00"}, "NUL"),
    ],
    ids=["nul", "long tag", "many skills", "nul email"],
)
async def test_a_hostile_trigger_is_a_400_and_writes_nothing(
    talent: dict[str, Any], reason: str, tmp_path: Path, db: Database, db_url: str,
    clock: ManualClock,
) -> None:  # fmt: skip
    payload = {"event": "talent_community.joined",
               "talent": {"email": "lena@example.net", **talent}}  # fmt: skip
    before = counts(db)
    async with client(config(workspace(tmp_path, example=True), db_url), db, clock) as http:
        response = await http.post("/api/events", json=payload, headers=API_AUTH)
    assert response.status_code == 400, response.text
    assert reason in response.json()["detail"]
    assert counts(db) == before
