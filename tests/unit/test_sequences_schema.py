"""The committed JSON Schemas are current, and they describe what the loader accepts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from campaigns.schema import ROOT, SCHEMAS, render, stale_schemas, write_schemas
from engine.cli.app import main


def test_committed_schema_files_are_current() -> None:
    assert stale_schemas() == [], "run 'nurture schema' and commit the result"


def test_schema_speaks_yaml_names() -> None:
    schema = json.loads(render("sequence.schema.json"))
    assert schema["title"] == "nurture sequence"
    assert schema["required"] == ["sequence", "steps"]
    assert schema["additionalProperties"] is False
    window = schema["$defs"]["SendWindow"]["properties"]
    assert set(window) == {"days", "from", "to"}
    assert window["from"]["pattern"] == r"^\d{1,2}:\d{2}$"
    timeout = schema["$defs"]["TimeoutBranch"]["properties"]["after"]
    assert timeout["type"] == "string" and "business" in timeout["pattern"]
    email = schema["$defs"]["EmailStep"]["properties"]
    assert "if" in email and "thread" in email


def test_nurture_schema_check_and_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "--check", "--out", str(tmp_path)]) == 1
    assert "schema files out of date" in capsys.readouterr().err
    assert main(["schema", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(SCHEMAS)
    assert main(["schema", "--check", "--out", str(tmp_path)]) == 0
    assert write_schemas(tmp_path) and stale_schemas(tmp_path) == []
    assert (ROOT / "sequences" / "schemas" / "sequence.schema.json").is_file()
