"""Importing, merging and forgetting talents on each database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import String, Text, inspect, select, text

from engine.core.stages import TRANSITIONS, can_move
from engine.store.database import Base, Database
from engine.store.models import Engagement, Suppression, Talent
from engine.talents.addresses import find_talent
from engine.talents.csv_import import ImportReport, import_talents, read_csv
from engine.talents.moves import change_stage
from engine.talents.privacy import export, forget
from sequences.errors import InputError

MESSY = Path(__file__).resolve().parents[1] / "data" / "messy_talents.csv"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _import(db: Database, data: bytes, **kwargs: object) -> ImportReport:
    _, rows = read_csv(data)
    with db.session() as session:
        return import_talents(session, rows, now=NOW, **kwargs)  # type: ignore[arg-type]


def test_messy_csv_gives_the_right_counts_and_reasons(db: Database) -> None:
    report = _import(db, MESSY.read_bytes())
    assert (report.created, report.updated, report.unchanged, report.duplicates) == (7, 0, 0, 1)
    warnings = dict(report.warnings)  # a bad field is left out; the person is kept
    assert sorted(warnings) == [4, 5]
    assert warnings[4].startswith("email 'grace@@navy' is not valid")
    assert warnings[5].startswith("phone '12ab' is not a phone number")
    reasons = dict(report.rejected)
    assert sorted(reasons) == [6, 10]
    assert reasons[6] == "no email and no phone: nothing to reach this person by"
    assert reasons[10] == (
        "phone +447911123456 is already on line 9 with another email (alan@example.co.uk)"
    )
    with db.session() as session:
        ada = find_talent(session, "ada.lovelace@EXAMPLE.com")
        assert (ada.first_name, ada.phone, ada.title) == ("Ada", "+49301234567", "Engineer")
        assert ada.skills == ["go", "python", "rust"]
        assert ada.tags == ["backend"]
        assert ada.attributes == {"favourite_editor": "vim"}
        assert ada.timezone == "Europe/Berlin"
        assert find_talent(session, "marie@example.fr").country == "FR"  # from "France"
        assert find_talent(session, "+12025550143").email is None
        assert find_talent(session, "linus@example.org").phone is None


def test_reimporting_the_same_file_changes_nothing(db: Database) -> None:
    _import(db, MESSY.read_bytes())
    with db.session() as session:
        before = session.execute(text("select count(*) from engagements")).scalar()
    again = _import(db, MESSY.read_bytes())
    assert (again.created, again.updated, again.unchanged) == (0, 0, 7)
    with db.session() as session:
        assert session.execute(text("select count(*) from engagements")).scalar() == before
        assert session.scalar(select(Talent.id).where(Talent.email == "alan@example.co.uk"))


def test_existing_talent_is_merged_never_duplicated(db: Database) -> None:
    _import(db, b"email,first name,skills\nada@example.com,Ada,python\n")
    report = _import(db, b"E-mail,Company,Skills\n ADA@example.com ,Analytical Engines,go\n")
    assert (report.created, report.updated) == (0, 1)
    with db.session() as session:
        talents = session.scalars(select(Talent)).all()
        assert len(talents) == 1
        assert (talents[0].first_name, talents[0].company) == ("Ada", "Analytical Engines")
        assert talents[0].skills == ["go", "python"]
        kinds = session.scalars(select(Engagement.kind).order_by(Engagement.id)).all()
        assert kinds == ["imported", "updated"]


def test_row_matching_two_different_talents_is_reported(db: Database) -> None:
    _import(db, b"email,phone\na@example.com,+4930111111\nb@example.com,+4930222222\n")
    report = _import(db, b"email,phone\na@example.com,+4930222222\nc@example.com,+4930111111\n")
    assert report.rejected[0] == (
        2,
        "email matches talent #1 but phone matches talent #2: merge them by hand",
    )
    assert report.rejected[1] == (
        3,
        "phone +4930111111 belongs to talent #1 who has another email (a@example.com)",
    )
    assert report.created == report.updated == 0


def test_dry_run_rolls_back(db: Database) -> None:
    _, rows = read_csv(MESSY.read_bytes())
    with db.session() as session:
        report = import_talents(session, rows, now=NOW)
        session.rollback()
    assert report.created == 7
    with db.session() as session:
        assert session.scalar(select(Talent.id)) is None


def _personal_strings(db: Database) -> list[str]:
    """Every string value in every table (to look for leftovers of a person)."""
    found: list[str] = []
    with db.session() as session:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | Text)]
            for row in session.execute(select(*columns)) if columns else []:
                found.extend(str(value) for value in row if value)
            json_columns = [c for c in table.columns if c.name in ("data", "attributes", "links")]
            for row in session.execute(select(*json_columns)) if json_columns else []:
                found.extend(str(value) for value in row if value)
    return found


def test_forget_leaves_no_personal_data_and_suppresses_reimport(db: Database) -> None:
    _import(db, MESSY.read_bytes())
    with db.session() as session:  # events nobody was matched to yet: one names Ada
        for address in ("Ada.Lovelace@example.com", "someone.else@example.com"):
            detail = f"550 {address}: mailbox full"
            session.add(
                Engagement(talent_id=None, kind="bounced", occurred_at=NOW, detail=detail,
                           data={"address": address})
            )  # fmt: skip
    with db.session() as session:
        forget(session, "ada.lovelace@example.com", now=NOW)
    leftovers = " ".join(_personal_strings(db)).lower()
    for needle in ("ada.lovelace", "+49301234567", "lovelace", "vim", "engineer", "github"):
        assert needle not in leftovers
    assert "someone.else@example.com" in leftovers  # somebody else's event is kept
    with db.session() as session:
        assert session.scalar(select(Suppression.kind).where(Suppression.kind == "phone"))
        tombstone = session.scalars(select(Talent).where(Talent.erased_at.is_not(None))).one()
        assert tombstone.stage == "do_not_contact"
    report = _import(db, b"email\nAda.Lovelace@example.com\n")
    assert report.rejected == [(2, "this address is suppressed (erased or opted out)")]
    report = _import(db, b"phone\n+49 30 1234567\n")
    assert report.rejected == [(2, "this address is suppressed (erased or opted out)")]


def test_export_holds_profile_labels_and_timeline(db: Database) -> None:
    _import(db, MESSY.read_bytes())
    with db.session() as session:
        data = export(session, "kenji@example.jp")
    assert data["talent"]["phone"] == "+819012345678"
    assert data["skills"] == ["java"]
    assert [event["kind"] for event in data["timeline"]] == ["imported"]


def test_unknown_talent_is_an_input_error(db: Database) -> None:
    with db.session() as session, pytest.raises(InputError, match="no talent with email"):
        find_talent(session, "nobody@example.com")


def test_tags_and_skills_are_indexed(db: Database) -> None:
    indexes = inspect(db.engine).get_indexes("talent_labels")
    assert any(ix["column_names"][:2] == ["kind", "value"] for ix in indexes)


def test_stage_moves_follow_the_lifecycle_and_each_is_on_the_timeline(db: Database) -> None:
    _import(db, b"email\nlin@example.com\n")
    with db.session() as session:
        talent = find_talent(session, "lin@example.com")
        assert talent.stage == "person"
        for target in ("prospect", "engaged", "candidate", "interviewing", "hired"):
            assert change_stage(session, talent, target, at=NOW, reason="test")
        assert not change_stage(session, talent, "engaged", at=NOW, reason="a click")  # no demotion
        assert talent.stage == "hired"
        with pytest.raises(InputError, match="cannot move from hired to person"):
            change_stage(session, talent, "person", at=NOW, reason="recruiter", strict=True)
        with pytest.raises(InputError, match="unknown stage 'applied'"):
            change_stage(session, talent, "applied", at=NOW, reason="recruiter")
        assert change_stage(session, talent, "do_not_contact", at=NOW, reason="asked")
        assert not any(can_move("do_not_contact", stage) for stage in TRANSITIONS)  # final
        moves = session.scalars(
            select(Engagement.detail)
            .where(Engagement.talent_id == talent.id, Engagement.kind == "stage_changed")
            .order_by(Engagement.id)
        ).all()
    assert [m.split(" (")[0] for m in moves] == [
        "person -> prospect", "prospect -> engaged", "engaged -> candidate",
        "candidate -> interviewing", "interviewing -> hired", "hired -> do_not_contact",
    ]  # fmt: skip
