"""The example workspace: validates clean, matches the JSON Schemas, previews, draws, selects."""

# ruff: noqa: E501  (CLI lines and messages read best whole)

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest
from sqlalchemy import func, select

from campaigns.schema import SCHEMAS, schema_of
from campaigns.workspace import check_workspace, load_workspace
from engine.cli.app import main
from engine.enrollments.audience import audience_select
from engine.store.database import Database
from engine.store.models import Talent
from engine.talents.csv_import import import_talents, read_csv
from sequences.source import parse_yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RECRUITING = EXAMPLES / "recruiting"
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("root", sorted(p for p in EXAMPLES.iterdir() if p.is_dir()), ids=str)
def test_every_example_workspace_validates_clean(root: Path) -> None:
    workspace, problems = check_workspace(root)
    assert problems == []
    assert workspace is not None and workspace.sequences and workspace.campaigns


def test_recruiting_example_has_what_the_issue_asks_for() -> None:
    workspace = load_workspace(RECRUITING)
    assert set(workspace.sequences) == {
        "backend-outbound",
        "talent-community-welcome",
        "silver-medalists",
        "produit-paris-fr",
    }
    assert {c.sequence for c in workspace.campaigns.values()} == set(workspace.sequences)
    inbound = workspace.sequences["talent-community-welcome"].sequence
    assert (inbound.kind, inbound.trigger and inbound.trigger.event) == (
        "inbound",
        "talent_community.joined",
    )
    outbound = workspace.sequences["backend-outbound"].sequence
    assert [s.channel for s in outbound.steps].count("sms") == 1
    assert outbound.step("followup").thread == "intro"  # type: ignore[union-attr]
    events = {b.when for s in outbound.steps for b in s.on if hasattr(b, "when")}
    assert {"replied.interested", "replied.not_interested", "replied.out_of_office"} <= events


@pytest.mark.parametrize(
    ("folder", "schema"),
    [("sequences", "sequence.schema.json"), ("campaigns", "campaign.schema.json")],
)
def test_example_files_satisfy_the_committed_json_schema(folder: str, schema: str) -> None:
    model, _, title = SCHEMAS[schema]
    validator = jsonschema.Draft202012Validator(schema_of(model, title))
    for path in sorted((RECRUITING / folder).glob("*.yaml")):
        source, _ = parse_yaml(path.read_text(), str(path))  # YAML 1.2 keys: 'on' is not True
        assert source is not None
        errors = [e.message for e in validator.iter_errors(source.data)]
        assert errors == [], path


def test_cli_validate_ok_then_broken(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--workspace", str(RECRUITING), "validate"]) == 0
    assert "4 sequences, 4 campaigns" in capsys.readouterr().out
    copy = tmp_path / "ws"
    shutil.copytree(RECRUITING, copy)
    outbound = copy / "sequences" / "backend-outbound.yaml"
    outbound.write_text(outbound.read_text().replace("goto: followup}", "goto: folowup}", 1))
    template = copy / "templates" / "breakup.md.j2"
    template.write_text(template.read_text().replace("talent.first_name", "talent.firstname"))
    assert main(["--workspace", str(copy), "validate"]) == 1
    err = capsys.readouterr().err.replace(str(copy) + "/", "")
    assert err.splitlines() == [
        "sequences/backend-outbound.yaml:24:68: unknown step 'folowup'; did you mean 'followup'?",
        "templates/breakup.md.j2:1:7: 'talent' has no 'firstname'; did you mean 'first_name'?",
    ]
    assert main(["--workspace", str(copy), "validate", str(copy / "sequences")]) == 1
    assert "backend-outbound.yaml:24:68: unknown step 'folowup'" in capsys.readouterr().err
    assert main(["--workspace", str(copy), "validate", str(copy / "campaigns")]) == 0
    assert main(["--workspace", str(copy), "validate", str(copy / "nope.yaml")]) == 1
    assert main(["-w", str(copy), "validate", str(copy / "campaigns" / "produit-paris.yaml")]) == 0


def test_cli_validate_a_single_campaign_checks_its_sequence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "ws"
    shutil.copytree(RECRUITING, copy)
    campaign = copy / "campaigns" / "produit-paris.yaml"
    campaign.write_text(
        campaign.read_text().replace("sequence: produit-paris-fr", "sequence: produit-pari")
    )
    assert main(["-w", str(copy), "validate", str(campaign)]) == 1
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(
            "produit-paris.yaml:3:11: unknown sequence 'produit-pari'; did you mean 'produit-paris-fr'?"
        )
    )


@pytest.mark.parametrize(
    "sequence",
    ["backend-outbound", "talent-community-welcome", "silver-medalists", "produit-paris-fr"],
)
def test_cli_preview_sample(sequence: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-w", str(RECRUITING), "preview", sequence, "--sample"]) == 0
    out = capsys.readouterr().out
    document = load_workspace(RECRUITING).sequences[sequence]
    for step in document.sequence.steps:
        assert f"{step.id} · {step.channel}" in out
    assert "Maya" in out


def test_cli_preview_variants_and_segments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-w", str(RECRUITING), "preview", "backend-outbound", "--sample"]) == 0
    out = capsys.readouterr().out
    assert "intro · email · variant a (weight 50)" in out and "variant b (weight 50)" in out
    assert "Subject: Quick question, Maya" in out
    assert "1 segment(s), GSM-7" in out
    assert "if talent.phone: sent" in out


def test_cli_preview_user_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-w", str(RECRUITING), "preview", "backend-outbond", "--sample"]) == 1
    assert (
        "unknown sequence 'backend-outbond'; did you mean 'backend-outbound'?"
        in capsys.readouterr().err
    )
    assert main(["-w", str(RECRUITING), "preview", "backend-outbound"]) == 1
    assert "give either --talent EMAIL or --sample" in capsys.readouterr().err


def test_cli_preview_for_a_talent_of_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'nurture.db'}"
    monkeypatch.setenv("NURTURE_DATABASE_URL", url)
    database = Database(url)
    with database.session() as session:
        _, rows = read_csv((RECRUITING / "talents.csv").read_bytes())
        import_talents(session, rows, now=NOW)
    database.dispose()
    args = [
        "-w",
        str(RECRUITING),
        "preview",
        "produit-paris-fr",
        "--talent",
        "ines.petit@example.org",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Subject: Inès, une question sur votre parcours produit" in out
    assert "Camille Durand" in out  # the sender of the campaign that uses the sequence
    assert main([*args[:-1], "nobody@example.org"]) == 1


def test_cli_graph(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-w", str(RECRUITING), "graph", "backend-outbound"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("flowchart TD\n")
    assert '    nudge -.->|"skip unless talent.phone"| breakup\n' in out
    assert main(["-w", str(RECRUITING), "graph", "silver-medalists", "--format", "dot"]) == 0
    assert '"checkin" -> "recruiter_call"' in capsys.readouterr().out
    assert main(["-w", str(RECRUITING), "graph", "backend-outbound", "--format", "svg"]) == 1


@pytest.mark.db
def test_outbound_audience_selects_most_example_talents(db: Database) -> None:
    with db.session() as session:
        _, rows = read_csv((RECRUITING / "talents.csv").read_bytes())
        report = import_talents(session, rows, now=NOW)
    workspace = load_workspace(RECRUITING)
    with db.session() as session:
        total = session.scalar(select(func.count()).select_from(Talent))
        chosen = {
            name: session.scalar(
                select(func.count()).select_from(audience_select(c.audience, NOW).subquery())
            )
            for name, c in workspace.campaigns.items()
        }
    assert total == 50, report
    assert chosen["backend-engineers-q1"] >= 40
    assert chosen["silver-medalists-2026"] == 5
    assert chosen["produit-paris"] == 3


def test_cli_warnings_do_not_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "ws"
    shutil.copytree(RECRUITING, copy)
    silver = copy / "sequences" / "silver-medalists.yaml"
    silver.write_text(
        silver.read_text().replace("{id: personal, weight: 70}", "{id: personal, weight: 0}")
    )
    assert main(["-w", str(copy), "validate"]) == 0
    captured = capsys.readouterr()
    assert captured.err.replace(str(copy) + "/", "").splitlines() == [
        "sequences/silver-medalists.yaml:17:32: warning: variant 'personal' has weight 0: it is never chosen"
    ]
    assert "valid:" in captured.out
    assert main(["-w", str(copy), "validate", str(silver)]) == 0
    assert "warning: variant 'personal'" in capsys.readouterr().err
