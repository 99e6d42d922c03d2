"""How a tick ends in Prefect's UI (``engine.runs.observe``): a deployed tick that did not
do its work is not green; ``nurture run`` and ``serve`` keep their summary."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from engine.outbox.dispatch import PAUSED_BY_HAND, DispatchReport
from engine.runs.observe import final_state, summary_rows, trouble
from engine.runs.tick import TickSummary

AT = datetime(2026, 3, 2, 10, tzinfo=UTC)


def _summary(**dispatch: Any) -> TickSummary:
    paused = dispatch.pop("tick_paused", None)
    return TickSummary("berlin", AT, paused=paused, dispatch=DispatchReport(**dispatch))


def _end(summary: TickSummary, *, deployed: bool = True) -> Any:
    return asyncio.run(final_state(summary, deployed=deployed))


def test_a_tick_that_did_its_work_returns_its_summary() -> None:
    assert _end(_summary(sent=3))["dispatch"]["sent"] == 3
    assert trouble(_summary(sent=3)) is None


def test_a_campaign_paused_by_hand_is_cancelled_not_green() -> None:
    state = _end(_summary(tick_paused=PAUSED_BY_HAND))
    assert state.is_cancelled() and state.message == f"berlin: paused: {PAUSED_BY_HAND}"


@pytest.mark.parametrize(
    ("dispatch", "why"),
    [
        ({"failed": 2}, "berlin: 2 message(s) failed"),
        ({"in_doubt": 1, "unrecorded": 1}, "berlin: 2 message(s) in doubt"),
        ({"sent": 5, "stopped": "SIGTERM"}, "berlin: stopped by SIGTERM"),
        ({"tick_paused": "email channel: HTTP 401"}, "berlin: paused: email channel: HTTP 401"),
    ],
)
def test_a_deployed_tick_with_trouble_fails_saying_why(dispatch: dict[str, Any], why: str) -> None:
    state = _end(_summary(**dispatch))
    assert state.is_failed() and state.message == why


def test_nurture_run_and_serve_keep_the_summary_whatever_happened() -> None:
    assert _end(_summary(failed=2), deployed=False)["dispatch"]["failed"] == 2


def test_the_artifact_table_has_every_figure_of_the_summary() -> None:
    rows = {row["figure"]: row["value"] for row in summary_rows(_summary(sent=4, in_doubt=1))}
    assert rows["sent"] == "4" and rows["in doubt"] == "1" and rows["paused"] == ""
