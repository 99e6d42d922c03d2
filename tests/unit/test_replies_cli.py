"""``nurture replies classify|evaluate`` through the real CLI entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli.app import main

DATA = Path(__file__).parent / "data"


def _run(capsys: pytest.CaptureFixture[str], workspace: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--workspace", str(workspace), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_classify_prints_intent_confidence_and_reason(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = _run(capsys, tmp_path, "replies", "classify", "Danke, aber kein Interesse.")
    assert code == 0
    assert out.splitlines()[0].split() == ["not_interested", "confidence", "0.70"]
    assert "kein interesse" in out


def test_classify_reads_headers_and_subject(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = _run(capsys, tmp_path, "replies", "classify", "Yes!", "-H", "X-Autoreply: yes")
    assert (code, out.split()[0]) == (0, "out_of_office")
    code, out, _ = _run(
        capsys, tmp_path, "replies", "classify", "Hi", "--subject", "Automatic reply: hello"
    )
    assert (code, out.split()[0]) == (0, "out_of_office")


def test_classify_uses_the_workspace_phrases(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "nurture.yaml").write_text("replies:\n  phrases:\n    interested: [partant]\n")
    code, out, _ = _run(capsys, tmp_path, "replies", "classify", "Partant !")
    assert (code, out.split()[0]) == (0, "interested")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ("replies:\n  phrases:\n    keen: [yes]\n", "unknown intent 'keen'"),
        ("replies:\n  phrases: [yes]\n", "replies.phrases must map an intent"),
        ("replies: [\n", "not valid YAML"),
    ],
)
def test_bad_workspace_phrases_exit_1_with_a_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, settings: str, message: str
) -> None:
    (tmp_path / "nurture.yaml").write_text(settings)
    code, out, err = _run(capsys, tmp_path, "replies", "classify", "hello")
    assert code == 1
    assert message in err
    assert "Traceback" not in err + out


def test_a_malformed_header_option_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = _run(capsys, tmp_path, "replies", "classify", "hi", "-H", "nocolon")
    assert code == 1
    assert "expected 'Name: value'" in err


def test_evaluate_prints_the_table_and_misses(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sample = tmp_path / "set.jsonl"
    sample.write_text(
        '{"text": "Unsubscribe", "intent": "unsubscribe", "lang": "en"}\n'
        '{"text": "Who are you?", "intent": "other", "lang": "en"}\n'
    )
    code, out, _ = _run(capsys, tmp_path, "replies", "evaluate", str(sample), "--misses")
    assert code == 0
    assert "Accuracy: **0.500** on 2 labelled replies" in out
    assert "| unsubscribe | 1.000 | 1.000 | 1 |" in out
    assert "'Who are you?': other -> question" in out


def test_evaluate_a_missing_file_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = _run(capsys, tmp_path, "replies", "evaluate", str(tmp_path / "none.jsonl"))
    assert code == 1
    assert "no such file" in err
