"""Reading the configuration from the environment: numbers that must be numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import Config
from sequences.errors import InputError


def test_a_tick_runs_in_one_shard_unless_told_otherwise(tmp_path: Path) -> None:
    assert Config.load(tmp_path, env={}).tick_shards == 1
    assert Config.load(tmp_path, env={"NURTURE_TICK_SHARDS": " 3 "}).tick_shards == 3


def test_the_old_name_of_the_shard_count_still_counts(tmp_path: Path) -> None:
    assert Config.load(tmp_path, env={"NURTURE_TICK_PROCESSES": "2"}).tick_shards == 2
    both = {"NURTURE_TICK_PROCESSES": "2", "NURTURE_TICK_SHARDS": "4"}
    assert Config.load(tmp_path, env=both).tick_shards == 4


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_tick_shards_must_be_a_whole_number_of_at_least_one(tmp_path: Path, value: str) -> None:
    with pytest.raises(InputError, match=f"NURTURE_TICK_SHARDS .* not '{value}'"):
        Config.load(tmp_path, env={"NURTURE_TICK_SHARDS": value})
