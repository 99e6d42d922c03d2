"""``/api/events`` (inbound triggers), ``/unsubscribe/{token}``, ``/healthz`` and ``/docs``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from webapp_support import (
    API_KEY,
    add_talent,
    client,
    config,
    counts,
    engagements,
    talent,
    workspace,
)

from engine.core.clock import ManualClock
from engine.core.links import unsubscribe_token
from engine.store.database import Database
from engine.store.models import Enrollment

pytestmark = pytest.mark.anyio
AUTH = {"Authorization": f"Bearer {API_KEY}"}
JOINED = {
    "event": "talent_community.joined",
    "talent": {
        "email": "  Lena.Vogel@Example.NET ",
        "phone": "0151 12345678",
        "country": "de",
        "first_name": "Lena",
        "timezone": "Europe/Berlin",
        "tags": ["Community", "backend"],
        "consent": ["email"],
    },
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return workspace(tmp_path, example=True)


async def test_a_trigger_creates_the_talent_and_enrolls_them(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    async with client(config(root, db_url), db, clock) as http:
        response = await http.post("/api/events", json=JOINED, headers=AUTH)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body | {"talent_id": None} == {
        "talent_id": None, "created": True, "duplicate": False, "suppressed": False,
        "enrolled": ["talent-community"],
    }  # fmt: skip
    lena = talent(db, body["talent_id"])
    assert (lena.email, lena.phone, lena.country) == (
        "lena.vogel@example.net",
        "+4915112345678",
        "DE",
    )
    assert lena.tags == ["backend", "community"]
    assert lena.email_consent_at == clock()
    with db.session() as session:
        (enrollment,) = session.scalars(select(Enrollment)).all()
    assert (enrollment.talent_id, enrollment.campaign) == (lena.id, "talent-community")


async def test_a_trigger_with_an_id_is_applied_once(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    payload = {**JOINED, "id": "form-submission-42"}
    async with client(config(root, db_url), db, clock) as http:
        first = await http.post("/api/events", json=payload, headers=AUTH)
        again = await http.post("/api/events", json=payload, headers=AUTH)
    assert first.json()["created"] is True
    assert again.json()["duplicate"] is True
    assert counts(db)["talents"] == 1
    assert len(engagements(db, kind="triggered")) == 1


async def test_a_known_person_is_updated_not_duplicated(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    known = add_talent(db, clock(), email="lena.vogel@example.net", company="Old GmbH")
    update = {"event": "talent_community.joined", "talent": {"email": "LENA.VOGEL@example.net",
              "company": "New GmbH", "skills": ["Rust"]}}  # fmt: skip
    async with client(config(root, db_url), db, clock) as http:
        response = await http.post("/api/events", json=update, headers=AUTH)
    assert response.json() | {"enrolled": []} == {
        "talent_id": known, "created": False, "duplicate": False, "suppressed": False,
        "enrolled": [],
    }  # fmt: skip
    assert (talent(db, known).company, talent(db, known).skills) == ("New GmbH", ["rust"])


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer nope"}, 401), ({"Authorization": API_KEY}, 401)],
)
async def test_without_the_bearer_key_nothing_is_written(
    root: Path, db: Database, db_url: str, clock: ManualClock, headers: dict[str, str], status: int
) -> None:
    async with client(config(root, db_url), db, clock) as http:
        response = await http.post("/api/events", json=JOINED, headers=headers)
    assert response.status_code == status
    assert response.headers["www-authenticate"] == "Bearer"
    assert counts(db)["talents"] == 0


async def test_the_api_is_off_without_a_configured_key(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    async with client(config(root, db_url, NURTURE_API_KEY=""), db, clock) as http:
        response = await http.post("/api/events", json=JOINED, headers=AUTH)
    assert response.status_code == 503
    assert "NURTURE_API_KEY" in response.json()["detail"]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"event": "joined"}, "talent: Field required"),
        ({**JOINED, "event": "Not An Event"}, "event: String should match pattern"),
        ({"event": "x", "talent": {"first_name": "Lena"}}, "needs an email or a phone"),
        ({"event": "x", "talent": {"email": "not-an-address"}}, "email 'not-an-address'"),
        ({"event": "x", "talent": {"phone": "12"}}, "phone '12'"),
        ({"event": "x", "talent": {"email": "a@b.example", "timezone": "Mars/Base"}},
         "unknown time zone"),
        ({**JOINED, "extra": 1}, "extra: Extra inputs are not permitted"),
    ],
)  # fmt: skip
async def test_malformed_triggers_get_400_with_the_reason(
    root: Path, db: Database, db_url: str, clock: ManualClock, payload: Any, reason: str
) -> None:
    async with client(config(root, db_url), db, clock) as http:
        response = await http.post("/api/events", json=payload, headers=AUTH)
    assert response.status_code == 400, response.text
    assert reason in response.json()["detail"]
    assert counts(db)["talents"] == 0


async def test_not_json_gets_400(root: Path, db: Database, db_url: str, clock: ManualClock) -> None:
    async with client(config(root, db_url), db, clock) as http:
        response = await http.post(
            "/api/events", content=b"{", headers={**AUTH, "Content-Type": "application/json"}
        )
    assert response.status_code == 400
    assert response.json()["error"] == "malformed"


# --- unsubscribe -------------------------------------------------------------------------

KEY = b"unsubscribe-signing-key-for-tests"


async def test_the_link_shows_a_page_and_only_the_post_unsubscribes(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    maya = add_talent(db, clock(), email="maya@example.net", phone="+4915112340000")
    url = f"/unsubscribe/{unsubscribe_token(KEY, maya, 'email')}"
    async with client(config(root, db_url), db, clock) as http:
        page = await http.get(url)
        assert talent(db, maya).email_opted_out_at is None  # a scanner following the link
        one_click = await http.post(url, data={"List-Unsubscribe": "One-Click"})
        again = await http.post(url, data={"List-Unsubscribe": "One-Click"})
    assert page.status_code == 200
    assert '<form method="post">' in page.text
    assert "maya" not in page.text.lower()  # the page never shows the address
    assert (one_click.status_code, again.status_code) == (200, 200)
    assert "You are unsubscribed" in one_click.text
    after = talent(db, maya)
    assert (after.email_opted_out_at, after.sms_opted_out_at) == (clock(), None)
    assert [e.kind for e in engagements(db, talent_id=maya)] == ["unsubscribed"]


@pytest.mark.parametrize("token", ["1.email.forged", "1.email", "x.email.abc", "", "1.fax.{sig}"])
async def test_bad_tokens_get_a_404_page_and_change_nothing(
    root: Path, db: Database, db_url: str, clock: ManualClock, token: str
) -> None:
    maya = add_talent(db, clock(), email="maya@example.net")
    token = token.format(sig=unsubscribe_token(KEY, maya, "fax").rsplit(".", 1)[-1])
    async with client(config(root, db_url), db, clock) as http:
        shown = await http.get(f"/unsubscribe/{token}")
        posted = await http.post(f"/unsubscribe/{token}")
    assert shown.status_code == posted.status_code == 404
    assert counts(db)["engagements"] == 0
    assert talent(db, maya).email_opted_out_at is None


# --- operations --------------------------------------------------------------------------


async def test_healthz_checks_the_database(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    async with client(config(root, db_url), db, clock) as http:
        healthy = await http.get("/healthz")
    broken = Database("postgresql+psycopg://nobody@127.0.0.1:9/none", migrate=False)  # closed port
    async with client(config(root, db_url), broken, clock) as http:
        unhealthy = await http.get("/healthz")
    assert (healthy.status_code, healthy.json()) == (200, {"status": "ok", "database": "ok"})
    assert (unhealthy.status_code, unhealthy.json()["database"]) == (503, "unreachable")


async def test_openapi_documents_every_route(
    root: Path, db: Database, db_url: str, clock: ManualClock
) -> None:
    async with client(config(root, db_url), db, clock) as http:
        docs = await http.get("/docs")
        schema = (await http.get("/openapi.json")).json()
    assert docs.status_code == 404  # Swagger loads its scripts from a CDN: off, offline
    assert set(schema["paths"]) == {
        "/webhooks/sendgrid/events", "/webhooks/sendgrid/inbound/{secret}",
        "/webhooks/twilio/messages", "/webhooks/twilio/status", "/api/events",
        "/unsubscribe/{token}", "/healthz",
    }  # fmt: skip
    assert set(schema["paths"]["/unsubscribe/{token}"]) == {"get", "post"}
