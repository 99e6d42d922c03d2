"""``engine.reports.funnel.funnel`` and ``nurture report`` on a timeline written row by row."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.cli.app import main
from engine.core.clock import ManualClock
from engine.reports.funnel import ALL, funnel
from engine.store.database import Database
from engine.store.models import Engagement, Enrollment, SequenceSnapshot, Talent


def _enroll(session: Any, campaign: str, variant: str, at: datetime, n: int) -> int:
    talent = Talent(
        email=f"p{n}@example.net", created_at=at, updated_at=at, links={}, attributes={}
    )
    session.add(talent)
    session.flush()
    enrollment = Enrollment(
        talent_id=talent.id, campaign=campaign, sequence="s", content_hash="h" * 64,
        kind="outbound", status="waiting", step_id="intro", variant=variant, entered_at=at,
        updated_at=at,
    )  # fmt: skip
    session.add(enrollment)
    session.flush()
    session.add(_row(enrollment, "entered", at, step="intro", variant=None))
    return enrollment.id


def _row(enrollment: Enrollment, kind: str, at: datetime, step: str | None = "intro",
         variant: str | None = "same", **data: Any) -> Engagement:  # fmt: skip
    return Engagement(
        talent_id=enrollment.talent_id, kind=kind, occurred_at=at, campaign=enrollment.campaign,
        enrollment_id=enrollment.id, step_id=step, data=data,
        variant=enrollment.variant if variant == "same" else variant,
    )  # fmt: skip


@pytest.fixture
def timeline(db: Database, clock: ManualClock) -> Database:
    """berlin: 4 enrollments (variants a, a, b, b) through intro and followup; paris: 1."""
    t = clock()
    with db.session() as s:
        s.add(SequenceSnapshot(content_hash="h" * 64, sequence="s", document={}, created_at=t))
        s.flush()
        ids = [_enroll(s, "berlin", v, t, n) for n, v in enumerate("aabb")]
        ids.append(_enroll(s, "paris", "a", t, 9))
        e1, e2, e3, e4, p1 = (s.get(Enrollment, i) for i in ids)
        h = timedelta(hours=1)
        rows = [
            *(_row(e, "sent", t + h) for e in (e1, e2, e3, e4, p1)),
            *(_row(e, "processed", t + h) for e in (e1, e2)),  # SendGrid's: not a second send
            *(_row(e, "delivered", t + 2 * h) for e in (e1, e2, e3)),
            _row(e1, "opened", t + 3 * h), _row(e1, "opened", t + 4 * h),  # one person, once
            _row(e3, "opened", t + 3 * h), _row(e1, "clicked", t + 4 * h),
            _row(e1, "replied", t + 5 * h, intent="interested"),
            _row(e1, "stage_changed", t + 5 * h, step=None, variant=None, to="candidate"),
            _row(e3, "replied", t + 5 * h, intent="unsubscribe"),
            _row(e4, "bounced", t + 2 * h, bounce_type="hard"),
            _row(e2, "sent", t + 50 * h, step="followup"),
            _row(e2, "opted_out", t + 51 * h, step="followup"),
            _row(e2, "stage_changed", t + 52 * h, step=None, variant=None, to="engaged"),
            _row(p1, "delivered", t + 2 * h), _row(p1, "replied", t + 3 * h, intent="question"),
            _row(p1, "stage_changed", t + 4 * h, step=None, variant=None, to="candidate"),
        ]  # fmt: skip
        s.add_all(rows)
    return db


def _rows(db: Database, campaign: str | None = None) -> dict[tuple[str, str, str], dict[str, int]]:
    with db.session() as session:
        return {(r.campaign, r.step, r.variant): r.counts for r in funnel(session, campaign)}


def test_each_figure_counts_distinct_enrollments_per_step_and_variant(timeline: Database) -> None:
    rows = _rows(timeline, "berlin")
    assert list(rows) == [
        ("berlin", ALL, ALL), ("berlin", "intro", "a"), ("berlin", "intro", "b"),
        ("berlin", "followup", "a"),
    ]  # fmt: skip
    assert rows[("berlin", ALL, ALL)] == {
        "enrolled": 4, "sent": 4, "delivered": 3, "opened": 2, "clicked": 1, "replied": 2,
        "interested": 1, "converted": 1, "bounced": 1, "unsubscribed": 2,
    }  # fmt: skip
    assert rows[("berlin", "intro", "a")] == {
        "enrolled": 2, "sent": 2, "delivered": 2, "opened": 1, "clicked": 1, "replied": 1,
        "interested": 1, "converted": 1,
    }  # fmt: skip
    assert rows[("berlin", "intro", "b")] == {
        "enrolled": 2, "sent": 2, "delivered": 1, "opened": 1, "replied": 1, "bounced": 1,
        "unsubscribed": 1,
    }  # fmt: skip
    assert rows[("berlin", "followup", "a")] == {"sent": 1, "unsubscribed": 1}


def test_a_conversion_is_credited_to_the_step_last_sent(timeline: Database) -> None:
    rows = _rows(timeline)
    assert rows[("paris", "intro", "a")]["converted"] == 1
    assert rows[("paris", ALL, ALL)]["converted"] == 1
    assert [key[0] for key in rows] == ["berlin"] * 4 + ["paris"] * 2


def test_rates_are_per_message_sent_and_conversion_per_enrollment(timeline: Database) -> None:
    with timeline.session() as session:
        total, intro_a, *_ = funnel(session, "berlin")
    assert total.rate("opened") == 0.5
    assert total.rate("converted") == 0.25  # 1 of 4 enrolled
    assert intro_a.rate("converted") == 0.5  # 1 of 2 sent
    assert total.rate("sent") is None
    assert total.as_dict()["rates"]["unsubscribed"] == 0.5


def _cli(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--workspace", str(root), "report", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cli_env(
    timeline: Database, db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Path:
    monkeypatch.setenv("NURTURE_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "250")
    return tmp_path


def test_report_prints_a_table_json_and_csv(
    capsys: pytest.CaptureFixture[str], cli_env: Path
) -> None:
    code, table, _ = _cli(capsys, cli_env, "berlin")
    assert code == 0
    assert "Funnel: berlin" in table
    header, *metrics = table.splitlines()[1:12]  # title, steps, one line a metric
    assert header.split()[:2] == ["all", "steps"]  # the whole campaign's column first
    total = {line.split()[0]: line.split()[1] for line in metrics}  # words, not a legend
    assert total == {"enrolled": "4", "sent": "4", "delivered": "3", "opened": "2",
                     "clicked": "1", "replied": "2", "interested": "1", "candidates": "1",
                     "bounced": "1", "unsubscribed": "2"}  # fmt: skip
    candidates = next(line for line in metrics if line.startswith("candidates"))
    assert candidates.split()[2] == "(25%)"  # per enrollment on the total column
    code, out, _ = _cli(capsys, cli_env, "berlin", "--format", "json")
    assert code == 0
    assert json.loads(out)[0] | {"rates": None} == {
        "campaign": "berlin", "step": "*", "variant": "*", "enrolled": 4, "sent": 4,
        "delivered": 3, "opened": 2, "clicked": 1, "replied": 2, "interested": 1,
        "converted": 1, "bounced": 1, "unsubscribed": 2, "rates": None,
    }  # fmt: skip
    code, out, _ = _cli(capsys, cli_env, "--format", "csv")
    records = list(csv.DictReader(io.StringIO(out)))
    assert code == 0
    assert [(r["campaign"], r["step"], r["variant"]) for r in records][-2:] == [
        ("paris", "*", "*"), ("paris", "intro", "a")
    ]  # fmt: skip
    assert records[0]["opened_rate"] == "0.5000"


@pytest.mark.parametrize(
    ("args", "message"),
    [(["nowhere"], "no campaign 'nowhere' has run (campaigns with enrollments: berlin, paris)"),
     (["--format", "xml"], "'xml' is not one of")],
)  # fmt: skip
def test_report_mistakes_exit_1(
    capsys: pytest.CaptureFixture[str], cli_env: Path, args: list[str], message: str
) -> None:
    code, out, err = _cli(capsys, cli_env, *args)
    assert code == 1
    assert message in " ".join((err + out).split())


def test_counts_stay_with_the_variant_sent_when_the_enrollment_moves_on(
    timeline: Database,
) -> None:
    """The engine clears an enrollment's variant at a step without variants: the intro's
    sends, opens and conversions still count for the variant the intro went out in."""
    before = _rows(timeline, "berlin")
    with timeline.session() as session:
        for enrollment in session.query(Enrollment).all():
            enrollment.variant = None
    assert _rows(timeline, "berlin") == before
    assert before[("berlin", "intro", "a")]["enrolled"] == 2
    assert before[("berlin", "intro", "a")]["converted"] == 1
