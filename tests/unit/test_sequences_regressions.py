"""Cases the property tests found once; kept as plain examples."""

from __future__ import annotations

from pathlib import Path

from sequences.loader import check_sequence_text


def test_a_step_without_channel_names_the_missing_key(tmp_path: Path) -> None:
    _, problems = check_sequence_text("sequence: x\nsteps:\n- {}\n", "s.yaml", tmp_path)
    assert [str(p) for p in problems] == [
        "s.yaml:3:3: missing required key 'channel': one of 'email', 'sms', 'whatsapp' or 'task'"
    ]
