"""SendGrid through the real ASGI app: signed Event Webhook batches and Inbound Parse replies.

Every rejected request (forged, stale, malformed, oversized) leaves every table as it was.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from webapp_support import (
    INBOUND_DOMAIN,
    INBOUND_SECRET,
    OTHER_KEY,
    add_talent,
    chunks,
    client,
    config,
    counts,
    engagements,
    inbound_files,
    sg_event,
    signed_batch,
    talent,
    workspace,
)

from engine.core.clock import ManualClock
from engine.store.database import Database

pytestmark = pytest.mark.anyio
EVENTS_URL = "/webhooks/sendgrid/events"
INBOUND_URL = f"/webhooks/sendgrid/inbound/{INBOUND_SECRET}"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return workspace(tmp_path)


def _batch(clock: ManualClock, n: int = 3, prefix: str = "ev") -> list[dict[str, object]]:
    kinds = ("delivered", "open", "click")
    return [sg_event(kinds[i % 3], f"{prefix}-{i}", clock(), url="https://acme.example/jobs")
            for i in range(n)]  # fmt: skip


async def test_a_signed_batch_is_stored_and_its_replay_counted_once(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    body, headers = signed_batch(_batch(clock), clock())
    async with client(config(root, db_url), db, clock) as http:
        first = await http.post(EVENTS_URL, content=body, headers=headers)
        again = await http.post(EVENTS_URL, content=body, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json() == {"received": 3, "stored": 3, "duplicates": 0}
    assert again.json() == {"received": 3, "stored": 0, "duplicates": 3}
    rows = engagements(db, provider="sendgrid")
    assert [(r.kind, r.provider_event_id) for r in rows] == [
        ("delivered", "ev-0"), ("opened", "ev-1"), ("clicked", "ev-2")
    ]  # fmt: skip
    assert rows[2].data["url"] == "https://acme.example/jobs"


async def test_the_same_event_twice_in_one_batch_is_stored_once(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    event = sg_event("delivered", "twice", clock())
    body, headers = signed_batch([event, event], clock())
    async with client(config(root, db_url), db, clock) as http:
        response = await http.post(EVENTS_URL, content=body, headers=headers)
    assert response.json() == {"received": 2, "stored": 1, "duplicates": 1}
    assert len(engagements(db, provider_event_id="twice")) == 1


async def test_an_event_for_a_known_address_lands_on_the_talents_timeline(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    maya = add_talent(db, clock(), email="maya@example.net")
    body, headers = signed_batch(
        [sg_event("bounce", "b-1", clock(), type="bounce", reason="550 no such user")], clock()
    )
    async with client(config(root, db_url), db, clock) as http:
        assert (await http.post(EVENTS_URL, content=body, headers=headers)).status_code == 200
    (row,) = engagements(db, provider_event_id="b-1")
    assert (row.talent_id, row.kind, row.data["bounce_type"]) == (maya, "bounced", "hard")
    assert talent(db, maya).email_opted_out_at == clock()  # a hard bounce stops email at once


def _forged(clock: ManualClock, body: bytes, headers: dict[str, str]) -> dict[str, object]:
    return {
        "signed by another key": signed_batch(body, clock(), OTHER_KEY),
        "body altered after signing": (body.replace(b"ev-0", b"ev-9"), headers),
        "no signature headers": (body, {"Content-Type": "application/json"}),
        "stale timestamp": signed_batch(body, clock() - timedelta(minutes=11)),
        "timestamp from the future": signed_batch(body, clock() + timedelta(minutes=11)),
        "garbage signature": (body, {**headers, "X-Twilio-Email-Event-Webhook-Signature": "%%"}),
    }


async def test_forged_and_stale_batches_get_403_and_write_nothing(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    body, headers = signed_batch(_batch(clock), clock())
    before = counts(db)
    async with client(config(root, db_url), db, clock) as http:
        for case, (content, sent_headers) in _forged(clock, body, headers).items():  # type: ignore[misc]
            response = await http.post(EVENTS_URL, content=content, headers=sent_headers)
            assert response.status_code == 403, case
            assert response.json()["error"] == "forbidden", case
    assert counts(db) == before


async def test_without_a_configured_key_every_batch_is_refused(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    body, headers = signed_batch(_batch(clock), clock())
    cfg = config(root, db_url, SENDGRID_WEBHOOK_PUBLIC_KEY="")
    async with client(cfg, db, clock) as http:
        response = await http.post(EVENTS_URL, content=body, headers=headers)
    assert response.status_code == 403
    assert "SENDGRID_WEBHOOK_PUBLIC_KEY" in response.json()["detail"]
    assert counts(db)["engagements"] == 0


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"not json", "not JSON"),
        (b'{"event": "open"}', "JSON array"),
        (b'[{"event": "open", "timestamp": 1}]', "event 0 lacks"),
        (json.dumps([{"event": "open", "sg_event_id": "x", "timestamp": "soon"}]).encode(),
         "bad timestamp"),
    ],
)  # fmt: skip
async def test_malformed_signed_batches_get_400_with_the_reason(
    root: Path, db: Database, db_url: str, clock: ManualClock, content: bytes, reason: str
) -> None:
    body, headers = signed_batch(content, clock())
    async with client(config(root, db_url), db, clock) as http:
        response = await http.post(EVENTS_URL, content=body, headers=headers)
    assert response.status_code == 400
    assert reason in response.json()["detail"]
    assert counts(db)["engagements"] == 0


async def test_oversized_batches_get_413_announced_or_streamed(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    body, headers = signed_batch(_batch(clock, n=400), clock())
    before = counts(db)
    async with client(config(root, db_url), db, clock, max_body=len(body) - 1) as http:
        announced = await http.post(EVENTS_URL, content=body, headers=headers)
        streamed = await http.post(EVENTS_URL, content=chunks(body, 4096), headers=headers)
    assert announced.status_code == 413
    assert streamed.status_code == 413
    assert "Content-Length" not in streamed.request.headers
    assert announced.json()["error"] == streamed.json()["error"] == "too_large"
    assert counts(db) == before


# --- Inbound Parse -----------------------------------------------------------------------


async def test_a_reply_from_a_known_talent_is_classified_and_recorded_once(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    maya = add_talent(db, clock(), email="maya@example.net", first_name="Maya")
    files = inbound_files(text="Yes, happy to chat! Thursday works.")
    async with client(config(root, db_url), db, clock) as http:
        first = await http.post(INBOUND_URL, files=files)
        again = await http.post(INBOUND_URL, files=files)
    assert first.status_code == 200, first.text
    assert first.json() | {"confidence": None} == {
        "duplicate": False, "kind": "replied", "intent": "interested", "confidence": None,
        "matched_by": "address", "verified": True, "talent_id": maya, "enrollment_id": None,
        "reply_id": first.json()["reply_id"],
    }  # fmt: skip
    assert again.json()["duplicate"] is True
    (reply,) = engagements(db, kind="replied")
    assert reply.id == first.json()["reply_id"]
    assert (reply.talent_id, reply.data["intent"]) == (maya, "interested")
    assert talent(db, maya).stage == "candidate"
    assert counts(db)["tasks"] == 1  # the recruiter's follow-up


async def test_a_reply_from_nobody_we_know_is_kept_on_the_unknown_sender_list(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    files = inbound_files(sender="someone@else.example", text="Who is this? Remove me.")
    async with client(config(root, db_url), db, clock) as http:
        response = await http.post(INBOUND_URL, files=files)
    assert response.json()["matched_by"] == "unmatched"
    assert response.json()["intent"] == "unsubscribe"
    (row,) = engagements(db, kind="replied")
    assert row.talent_id is None
    assert row.data["address"] == "someone@else.example"


async def test_an_auto_reply_is_out_of_office_whatever_it_says(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    add_talent(db, clock(), email="maya@example.net")
    files = inbound_files(
        text="Yes! I'll answer when I'm back.", extra_headers={"Auto-Submitted": "auto-replied"}
    )
    async with client(config(root, db_url), db, clock) as http:
        response = await http.post(INBOUND_URL, files=files)
    assert response.json()["intent"] == "out_of_office"
    assert response.json()["confidence"] == 0.99


@pytest.mark.parametrize("secret", ["wrong", INBOUND_SECRET + "x", INBOUND_SECRET[:-1]])
async def test_a_wrong_inbound_secret_gets_403_and_writes_nothing(
    root: Path, db: Database, db_url: str, clock: ManualClock, secret: str
) -> None:
    add_talent(db, clock(), email="maya@example.net")
    before = counts(db)
    async with client(config(root, db_url), db, clock) as http:
        response = await http.post(f"/webhooks/sendgrid/inbound/{secret}", files=inbound_files())
    assert response.status_code == 403
    assert counts(db) == before


async def test_inbound_mail_is_refused_when_no_secret_is_configured(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    async with client(config(root, db_url, NURTURE_INBOUND_SECRET=""), db, clock) as http:
        response = await http.post(INBOUND_URL, files=inbound_files())
    assert response.status_code == 403
    assert counts(db)["engagements"] == 0


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        ({"text": (None, "hello")}, "lacks the from or headers"),
        ({**inbound_files(), "envelope": (None, "{not json")}, "envelope is not JSON"),
    ],
)
async def test_malformed_inbound_posts_get_400(
    root: Path,
    db: Database,
    db_url: str,
    clock: ManualClock,
    files: dict[str, tuple[None, str]],
    reason: str,
) -> None:
    async with client(config(root, db_url), db, clock) as http:
        response = await http.post(INBOUND_URL, files=files)
    assert response.status_code == 400
    assert reason in response.json()["detail"]
    assert counts(db)["engagements"] == 0


async def test_a_mail_to_our_unsubscribe_address_opts_out(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    maya = add_talent(db, clock(), email="maya@example.net")
    files = inbound_files(to=f"unsubscribe+abc123@{INBOUND_DOMAIN}", text="")
    async with client(config(root, db_url), db, clock) as http:
        response = await http.post(INBOUND_URL, files=files)
    assert (response.json()["kind"], response.json()["intent"]) == ("unsubscribed", None)
    assert talent(db, maya).email_opted_out_at == clock()


async def test_oversized_inbound_posts_get_413_announced_or_streamed(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    add_talent(db, clock(), email="maya@example.net")
    form = httpx.Request("POST", INBOUND_URL, files=inbound_files(text="Yes! " + "x" * 50_000))
    body, headers = form.read(), {"Content-Type": form.headers["Content-Type"]}
    before = counts(db)
    # Inbound Parse has its own, larger, limit (attachments): max_body does not apply to it
    limits = {"max_body": 1024, "max_inbound_body": len(body) - 1}
    async with client(config(root, db_url), db, clock, **limits) as http:
        announced = await http.post(INBOUND_URL, content=body, headers=headers)
        streamed = await http.post(INBOUND_URL, content=chunks(body, 4096), headers=headers)
    assert (announced.status_code, streamed.status_code) == (413, 413)
    assert "Content-Length" not in streamed.request.headers
    assert announced.json()["error"] == streamed.json()["error"] == "too_large"
    assert counts(db) == before
    async with client(
        config(root, db_url), db, clock, **(limits | {"max_inbound_body": len(body)})
    ) as http:
        accepted = await http.post(INBOUND_URL, content=chunks(body, 4096), headers=headers)
    assert accepted.status_code == 200, accepted.text  # the same post, within the limit
    assert len(engagements(db, kind="replied")) == 1


async def test_a_reply_reads_nurture_yaml_alone_and_again_once_it_changed(
    root: Path, db: Database, db_url: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reply needs ``replies.review_below`` of nurture.yaml; the workspace's definition
    files are not even listed while no branch needs a campaign's sender."""
    from engine.web import deps

    listed: list[Path] = []
    stamp = deps._stamp
    monkeypatch.setattr(deps, "_stamp", lambda folder: listed.append(folder) or stamp(folder))
    (root / "nurture.yaml").write_text("replies:\n  review_below: 0.99\n")
    maya = add_talent(db, clock(), email="maya@example.net", first_name="Maya")
    yes = "Yes, happy to chat! Thursday works."
    async with client(config(root, db_url), db, clock) as http:
        listed.clear()
        held = await http.post(INBOUND_URL, files=inbound_files(text=yes))
        assert held.status_code == 200, held.text
        assert talent(db, maya).stage != "candidate"  # held for a person to read
        (root / "nurture.yaml").write_text("replies:\n  review_below: 0\n")
        acted = await http.post(
            INBOUND_URL, files=inbound_files(text=yes, message_id="<reply-2@mail.example.net>")
        )
        assert acted.status_code == 200, acted.text
    assert talent(db, maya).stage == "candidate"
    assert listed == []
