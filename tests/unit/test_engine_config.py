"""Reading the configuration from the environment: numbers that must be numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import Config
from sequences.errors import InputError


def test_a_tick_runs_in_its_own_process_unless_told_otherwise(tmp_path: Path) -> None:
    assert Config.load(tmp_path, env={}).tick_processes == 1
    assert Config.load(tmp_path, env={"NURTURE_TICK_PROCESSES": " 3 "}).tick_processes == 3


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_tick_processes_must_be_a_whole_number_of_at_least_one(tmp_path: Path, value: str) -> None:
    with pytest.raises(InputError, match=f"NURTURE_TICK_PROCESSES .* not '{value}'"):
        Config.load(tmp_path, env={"NURTURE_TICK_PROCESSES": value})
