"""Loading a ``Runtime`` is a library call: it leaves the process's collector alone (the
entry points that tick, ``nurture run``/``serve`` and the workers, freeze their heap)."""

from __future__ import annotations

import gc
from pathlib import Path

from campaigns.workspace import load_workspace
from engine.config import Config
from engine.runs.runtime import Runtime


def test_loading_a_runtime_does_not_freeze_the_heap(tmp_path: Path) -> None:
    (tmp_path / "sequences").mkdir()
    (tmp_path / "campaigns").mkdir()
    (tmp_path / "nurture.yaml").write_text("company: {name: Acme}\n")
    config = Config.load(tmp_path, env={"NURTURE_SECRET_KEY": "k" * 32})
    gc.collect()
    before = gc.get_freeze_count()
    garbage_to_freeze = [[i] for i in range(1000)]  # objects a freeze would move
    rt = Runtime.load(config, load_workspace(tmp_path))
    assert rt.workspace.campaigns == {}
    assert gc.get_freeze_count() == before
    del garbage_to_freeze
