"""A campaign's pause on the Prefect server: ``nurture deploy`` keeps the pause state an
operator set there, and ``nurture campaigns pause|resume`` pauses or resumes the campaign's
deployment too (``PREFECT_API_URL`` set, the campaign deployed).

Prefect has two switches: the deployment's ``paused`` flag (the UI's toggle, ``prefect
deployment pause``) and each schedule's ``active`` flag (``prefect deployment schedule
pause``). Re-deploying would reset both; :func:`keep_pause_state` carries them over.
nurture's own pause (in the talent base) is what stops sending; the deployment's pause
spares the workers ticks that would do nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any

FLOW_NAME = "campaign-tick"
TIMEOUT = 30  # seconds to reach the Prefect server before giving up with a warning


def deployment_name(campaign_id: str) -> str:
    return f"{FLOW_NAME}/{campaign_id}"


async def keep_pause_state(client: Any, deployment: Any) -> None:
    """Give ``deployment`` (a RunnerDeployment about to be applied) the pause state of the
    deployment of the same name on the server, if there is one."""
    from prefect.exceptions import ObjectNotFound

    try:
        existing = await client.read_deployment_by_name(deployment_name(deployment.name))
    except ObjectNotFound:
        return
    deployment.paused = existing.paused
    if existing.schedules and not any(schedule.active for schedule in existing.schedules):
        deployment.schedules = [
            schedule.model_copy(update={"active": False}) for schedule in deployment.schedules
        ]


def follow_pause(campaign_id: str, *, paused: bool) -> str | None:
    """Pause or resume the campaign's deployment on the Prefect server at
    ``PREFECT_API_URL``. Returns one line to show: what was done, or a warning when the
    server could not be reached (the campaign's own pause stands either way); None when
    there is no server or no deployment of this campaign."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        return None
    try:
        done = asyncio.run(asyncio.wait_for(_set_paused(campaign_id, paused=paused), TIMEOUT))
    except Exception as exc:  # any failure to reach Prefect: a warning, never a crash
        response = getattr(exc, "response", None)  # an HTTP error: its status says enough
        detail = f"HTTP {response.status_code}" if response is not None else _one_line(exc)
        return (f"warning: could not {'pause' if paused else 'resume'} the Prefect deployment "
                f"{deployment_name(campaign_id)} at PREFECT_API_URL={url}: {detail}")  # fmt: skip
    verb = "paused" if paused else "resumed"
    return f"its Prefect deployment {deployment_name(campaign_id)} is {verb} too" if done else None


async def _set_paused(campaign_id: str, *, paused: bool) -> bool:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    async with get_client() as client:
        try:
            deployment = await client.read_deployment_by_name(deployment_name(campaign_id))
        except ObjectNotFound:
            return False
        if paused:
            await client.pause_deployment(deployment.id)
        else:
            await client.resume_deployment(deployment.id)
    return True


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
