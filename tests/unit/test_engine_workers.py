from __future__ import annotations

import gc
from contextlib import ExitStack

from engine.runs.workers import fewer_collections


def test_overlapping_ticks_put_the_collector_threshold_back() -> None:
    """Two ticks in one process (``nurture serve``), the first ending while the second runs."""
    before = gc.get_threshold()
    with ExitStack() as first:
        first.enter_context(fewer_collections())
        second = ExitStack()
        second.enter_context(fewer_collections())
        assert gc.get_threshold() == (10_000, *before[1:])
    assert gc.get_threshold() == (10_000, *before[1:])  # the second still runs
    second.close()
    assert gc.get_threshold() == before
