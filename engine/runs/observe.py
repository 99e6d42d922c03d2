"""A campaign tick as Prefect's UI shows it: its name, its summary, its logs, its colour.

- A flow run is named ``CAMPAIGN@TIME`` (:func:`run_name`), the tick's time in UTC (its
  ``--now`` when one is given); task runs carry their step's name (``engine.runs.flows``).
- The tick's summary (sent, deferred, failed, in doubt, paused...) is a table artifact
  keyed ``tick-CAMPAIGN``, so the artifact's history is the campaign's history.
- nurture's own log records (loggers ``nurture.*`` and ``channels.*``) go to the run's logs
  too (:func:`send_logs_to_runs`), at the level the process logs them.
- A deployed tick that did not do its work is not green (:func:`final_state`): a campaign
  paused by hand ends ``Cancelled`` (grey: nothing was meant to run), a refused worker,
  a pause after a channel error, failed or in-doubt messages or a stopped dispatch end
  ``Failed`` (red), the summary stored first. ``nurture run`` and ``nurture serve`` keep
  the summary as the flow's return value: they report it themselves (console, exit code).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC
from typing import Any

from engine.outbox.dispatch import PAUSED_BY_HAND
from engine.runs.tick import TickSummary

RUN_LOGGERS = ("nurture", "channels")


def run_name() -> str:
    """``CAMPAIGN@2026-12-07T17:15Z``: a flow run's name (Prefect's ``flow_run_name``)."""
    from prefect.runtime import flow_run

    parameters = flow_run.get_parameters()
    at = parameters.get("now") or flow_run.get_scheduled_start_time().astimezone(UTC).strftime(
        "%Y-%m-%dT%H:%MZ"
    )
    return f"{parameters.get('campaign', 'tick')}@{at}"


class _InRun(logging.Filter):
    """Only records logged inside a flow or task run (the API handler needs its id; one
    logged elsewhere would make Prefect warn)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from prefect.context import FlowRunContext, TaskRunContext

        return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def send_logs_to_runs() -> None:
    """Attach Prefect's API log handler to nurture's loggers, once per process (ticks that
    overlap in ``nurture serve`` share it: each record goes to the run it was logged in)."""
    from prefect.logging.handlers import APILogHandler

    for name in RUN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(handler, APILogHandler) for handler in logger.handlers):
            handler = APILogHandler()
            handler.addFilter(_InRun())
            logger.addHandler(handler)


def summary_rows(summary: TickSummary) -> list[dict[str, Any]]:
    """The tick's figures as the artifact's table: one row per figure."""
    sent = summary.dispatch
    figures = {
        "enrolled": summary.enrolled,
        "planned": summary.planned,
        "sent": sent.sent,
        "deferred": sent.deferred,
        "retried": sent.retried,
        "failed": sent.failed,
        "cancelled": sent.cancelled,
        "in doubt": summary.in_doubt + sent.in_doubt + sent.unrecorded,
        "released": sent.released,
        "enrollments in error": summary.errors,
        "paused": summary.paused or "",
        "stopped by": sent.stopped or "",
    }
    return [{"figure": name, "value": str(value)} for name, value in figures.items()]


def trouble(summary: TickSummary) -> str | None:
    """Why the tick is not a success, in one line; None when it is."""
    sent = summary.dispatch
    in_doubt = summary.in_doubt + sent.in_doubt + sent.unrecorded
    problems = [
        f"{count} {what}"
        for count, what in (
            (sent.failed, "message(s) failed"),
            (in_doubt, "message(s) in doubt"),
            (len(sent.errors), "worker error(s)"),
        )
        if count
    ]
    if summary.paused:
        problems.insert(0, f"paused: {summary.paused}")
    if sent.stopped:
        problems.append(f"stopped by {sent.stopped}")
    return f"{summary.campaign}: " + "; ".join(problems) if problems else None


async def store_summary(summary: TickSummary) -> None:
    """The summary as the run's table artifact (nothing outside a flow run)."""
    from prefect.artifacts import acreate_table_artifact
    from prefect.context import FlowRunContext

    if FlowRunContext.get() is None:
        return
    key = "tick-" + re.sub(r"[^a-z0-9-]", "-", summary.campaign.lower())
    await acreate_table_artifact(
        table=summary_rows(summary),
        key=key,
        description=f"{summary.campaign} at {summary.at.isoformat()}: {trouble(summary) or 'done'}",
    )


async def final_state(summary: TickSummary, *, deployed: bool) -> dict[str, Any] | Any:
    """What the flow returns: the summary, or for a deployed tick that did not do its
    work a ``Cancelled``/``Failed`` state saying why in one line (module docstring)."""
    from prefect.states import Cancelled, Failed

    await store_summary(summary)
    why = trouble(summary)
    if not deployed or why is None:
        return summary.as_dict()
    by_hand = summary.paused == PAUSED_BY_HAND
    logging.getLogger("nurture.runs").log(logging.WARNING if by_hand else logging.ERROR, why)
    return Cancelled(message=why) if by_hand else Failed(message=why)


def refused(why: str) -> Any:
    """A deployed tick's worker refused (``engine.runs.preflight``): a ``Failed`` state."""
    from prefect.states import Failed

    logging.getLogger("nurture.runs").error("%s", why)
    return Failed(message=why)
