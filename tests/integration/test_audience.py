"""The audience filter is one SQL select, with the same answers on SQLite and PostgreSQL."""

# ruff: noqa: E501  (tables of people and audiences read best one per line)

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from campaigns.model import Audience
from engine.enrollments.audience import audience_select
from engine.store.database import Database
from engine.store.models import Talent, TalentLabel

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

PEOPLE: list[dict[str, Any]] = [
    # name, stage, city, country, source, tags, skills, attributes, last contacted (days ago), created
    dict(
        name="ada",
        city="Berlin",
        country="DE",
        source="github",
        tags=["backend", "passive"],
        skills=["python", "go"],
        attributes={"level": "senior", "years": 7, "remote": True},
    ),
    dict(
        name="ben",
        city="berlin",
        country="DE",
        source="referral",
        tags=["backend"],
        skills=["java"],
        attributes={"level": "mid", "years": 3, "remote": False},
        contacted=30,
    ),
    dict(
        name="chloe",
        city="Paris",
        country="FR",
        source="GitHub",
        tags=["frontend"],
        skills=["typescript"],
        attributes={"level": "senior"},
        contacted=200,
    ),
    dict(
        name="dan",
        city="New York",
        country="US",
        source="meetup",
        tags=["backend", "platform"],
        skills=["go", "rust"],
        attributes={"years": 7.0},
        stage="prospect",
    ),
    dict(
        name="eve",
        city="Lyon",
        country="FR",
        source="github",
        tags=["backend"],
        skills=["python"],
        stage="candidate",
    ),
    dict(
        name="finn",
        city="Berlin",
        country="DE",
        source="github",
        tags=["backend"],
        skills=["python"],
        erased=True,
    ),
    dict(
        name="gus",
        city="Tokyo",
        country="JP",
        source="github",
        tags=["backend"],
        skills=["go"],
        snoozed=5,
    ),
    dict(
        name="hana",
        city="Tokyo",
        country="JP",
        source="github",
        tags=["backend"],
        skills=["go"],
        stage="not_interested",
        recontact=-1,
        created=date(2025, 1, 1),
    ),
    dict(
        name="ivo",
        city="Tokyo",
        country="JP",
        source="github",
        tags=["backend"],
        skills=["go"],
        stage="not_interested",
        recontact=30,
    ),
]


def _seed(db: Database) -> None:
    with db.session() as session:
        for person in PEOPLE:
            created = person.get("created", date(2026, 1, 15))
            talent = Talent(
                email=f"{person['name']}@example.com",
                first_name=person["name"].title(),
                city=person["city"],
                country=person["country"],
                source=person["source"],
                stage=person.get("stage", "person"),
                attributes=person.get("attributes", {}),
                created_at=datetime.combine(created, datetime.min.time(), tzinfo=UTC),
                updated_at=NOW,
                erased_at=NOW if person.get("erased") else None,
                snoozed_until=NOW + timedelta(days=person["snoozed"])
                if "snoozed" in person
                else None,
                recontact_after=NOW + timedelta(days=person["recontact"])
                if "recontact" in person
                else None,
                last_contacted_at=NOW - timedelta(days=person["contacted"])
                if "contacted" in person
                else None,
            )
            talent.labels = [TalentLabel(kind="tag", value=v) for v in person["tags"]] + [
                TalentLabel(kind="skill", value=v) for v in person["skills"]
            ]
            session.add(talent)


def _names(db: Database, audience: Audience) -> list[str]:
    with db.session() as session:
        query = select(Talent.first_name).where(Talent.id.in_(audience_select(audience, NOW)))
        return sorted(name.lower() for name in session.scalars(query))


CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("default: person and prospect, never erased or snoozed", {}, ["ada", "ben", "chloe", "dan"]),
    ("stage", {"stage": ["candidate", "prospect"]}, ["dan", "eve"]),
    ("not_interested only after re-contact date", {"stage": ["not_interested"]}, ["hana"]),
    ("tags_all", {"tags_all": ["backend", "passive"]}, ["ada"]),
    ("tags_any", {"tags_any": ["platform", "frontend"]}, ["chloe", "dan"]),
    ("tags are case-insensitive", {"tags_all": ["Backend"]}, ["ada", "ben", "dan"]),
    ("skills_any", {"skills_any": ["go", "java"]}, ["ada", "ben", "dan"]),
    ("location is city, case-insensitive", {"location": "BERLIN"}, ["ada", "ben"]),
    ("location is country code", {"location": "fr"}, ["chloe"]),
    ("source", {"source": "github"}, ["ada", "chloe"]),
    (
        "not_contacted_for: never contacted counts",
        {"not_contacted_for": "90 days"},
        ["ada", "chloe", "dan"],
    ),
    (
        "not_contacted_for in weeks",
        {"not_contacted_for": "2 weeks"},
        ["ada", "ben", "chloe", "dan"],
    ),
    (
        "created_after",
        {"stage": ["not_interested", "person"], "created_after": "2025-06-01"},
        ["ada", "ben", "chloe"],
    ),
    ("attribute text", {"attributes": {"level": "senior"}}, ["ada", "chloe"]),
    ("attribute number", {"attributes": {"years": 7}}, ["ada", "dan"]),
    ("attribute true", {"attributes": {"remote": True}}, ["ada"]),
    ("attribute false", {"attributes": {"remote": False}}, ["ben"]),
    (
        "everything at once",
        {
            "tags_all": ["backend"],
            "skills_any": ["python", "go"],
            "location": "berlin",
            "not_contacted_for": "10 days",
            "attributes": {"level": "senior"},
        },
        ["ada"],
    ),
]


@pytest.mark.db
@pytest.mark.parametrize(
    ("audience", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_audience_selects_in_sql(
    db: Database, audience: dict[str, Any], expected: list[str]
) -> None:
    _seed(db)
    assert _names(db, Audience.model_validate(audience)) == expected


def test_audience_is_one_select_on_both_dialects() -> None:
    audience = Audience.model_validate(
        {"tags_all": ["a", "b"], "skills_any": ["go"], "attributes": {"x": 1, "y": "z"}}
    )
    query = audience_select(audience, NOW)
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        sql = str(query.compile(dialect=dialect))
        assert sql.startswith("SELECT talents.id \nFROM talents \nWHERE")
        assert sql.count("EXISTS") == 3
    assert str(query.compile(dialect=postgresql.dialect())).count("AS JSONB)") == 2
    assert "json_type(talents.attributes" in str(query.compile(dialect=sqlite.dialect()))
