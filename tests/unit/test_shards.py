"""What a shard run reports travels as a table artifact and comes back whole."""

from __future__ import annotations

import json

from engine.enrollments.enroll import Advanced
from engine.outbox.dispatch import DispatchReport
from engine.runs.shards import _report, _rows, _tick_run
from engine.runs.workers import WorkReport


def test_a_shard_report_survives_its_artifact() -> None:
    report = WorkReport(
        Advanced(advanced=500, planned=498, exited=1, errors=1),
        DispatchReport(
            claimed=498,
            sent=490,
            deferred=5,
            in_doubt=3,
            paused="email: 401",
            errors=["a lane failed"],
        ),
    )
    assert _report(json.loads(json.dumps(_rows(report)))) == report


def test_outside_a_flow_run_there_is_no_pool_to_spread_over() -> None:
    assert _tick_run() == (None, {})
