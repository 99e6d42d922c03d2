"""The desk's actions (POST): each needs a session and its CSRF token, goes through the
engine's own rule (the one the CLI command calls), and redirects back (303) with a notice,
or with the error in words: a recruiter's mistake never gets a traceback."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import quote, urlparse

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from engine.web.deps import Services, ServicesDep
from engine.web.desk.accounts import sign_in, sign_out
from engine.web.desk.guard import COOKIE, SIGNIN_COOKIE, ActionUser, render, same, set_cookie
from engine.web.desk.throttle import SignInThrottle
from sequences.errors import InputError

if TYPE_CHECKING:
    from engine.enrollments.progress import PlanMessages
    from engine.store.models import Talent

router = APIRouter(include_in_schema=False)
logger = logging.getLogger("nurture.desk")
Text = Annotated[str, Form(max_length=320)]


def _back(path: str, *, notice: str | None = None, error: str | None = None) -> Response:
    key, text = ("error", error) if error is not None else ("notice", notice or "")
    return RedirectResponse(f"{path}?{key}={quote(text[:400])}", status_code=303)


def _act(svc: Services, path: str, work: Callable[[Session], str]) -> Response:
    """``work`` in one transaction; its words as a notice, an InputError's as the error."""
    try:
        with svc.db.session(immediate=True) as session:
            said = work(session)
    except InputError as exc:
        return _back(path, error=str(exc))
    return _back(path, notice=said)


def _sends(svc: Services) -> PlanMessages:
    """Plan the messages an action's next steps call for, as `nurture tasks done` does."""
    from engine.enrollments.progress import PlanMessages
    from engine.runs.runtime import Runtime

    workspace = svc.workspace()
    if workspace is None:
        raise InputError("the workspace has errors: see the Sequences page (nurture validate)")
    return PlanMessages(Runtime(svc.config, workspace, svc.link_key))


# --- sign-in --------------------------------------------------------------------------------


@router.post("/signin")
def signin(
    request: Request, svc: ServicesDep, email: Text, password: Annotated[str, Form(max_length=500)],
    csrf: Annotated[str, Form(max_length=100)], next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:  # fmt: skip
    expected = request.cookies.get(SIGNIN_COOKIE, "")
    if not expected or not same(csrf, expected):
        return render(request, "signin.html", None, 403, signin_csrf=expected, next=next,
                      error="this form expired: please sign in again")  # fmt: skip
    throttle: SignInThrottle = request.app.state.signin_throttle
    account, address = email.strip().lower(), request.client.host if request.client else "-"
    now = svc.clock()
    wait = throttle.wait(account, address, now)
    if wait is not None:
        logger.warning("desk: sign-in refused for %r from %s: too many failures", email[:100],
                       address)  # fmt: skip
        minutes = max(1, math.ceil(wait.total_seconds() / 60))
        refused = render(request, "signin.html", None, 429, signin_csrf=expected, next=next,
                         error=f"too many failed sign-ins for this account or from this "
                         f"address: try again in {minutes} minute(s)")  # fmt: skip
        refused.headers["Retry-After"] = str(math.ceil(wait.total_seconds()))
        return refused
    with svc.db.session(immediate=True) as session:
        token = sign_in(session, email, password, now=now)
    if token is None:
        throttle.failed(account, address, now)
        logger.warning("desk: failed sign-in for %r from %s", email[:100], address)
        return render(request, "signin.html", None, 401, signin_csrf=expected, next=next,
                      error="wrong email or password")  # fmt: skip
    throttle.succeeded(account)
    target = urlparse(next)
    local = next.startswith("/") and not next.startswith("//") and not target.netloc
    response = RedirectResponse(next if local else "/", status_code=303)
    set_cookie(request, response, COOKIE, token)
    response.delete_cookie(SIGNIN_COOKIE, path="/")
    return response


@router.post("/signout")
def signout(request: Request, svc: ServicesDep, user: ActionUser) -> Response:
    with svc.db.session() as session:
        sign_out(session, request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


# --- campaigns ------------------------------------------------------------------------------


@router.post("/campaigns/{campaign}/{verb}")
def campaign_action(
    svc: ServicesDep, user: ActionUser, campaign: str, verb: Literal["pause", "resume"]
) -> Response:
    from engine.outbox.dispatch import PAUSED_BY_HAND, pause, paused, resume

    def work(session: Session) -> str:
        workspace = svc.workspace()
        if workspace is None or campaign not in workspace.campaigns:
            raise InputError(f"unknown campaign {campaign!r}")
        if verb == "pause":
            if paused(session, campaign) == PAUSED_BY_HAND:
                return f"{campaign} is already paused"
            pause(session, campaign, f"{PAUSED_BY_HAND}; by {user.email}", now=svc.clock())
            return f"{campaign} paused: its ticks send nothing until it is resumed"
        if paused(session, campaign) is None:
            return f"{campaign} is not paused"
        resume(session, campaign, now=svc.clock())
        return f"{campaign} resumed"

    return _act(svc, "/campaigns", work)


# --- people ---------------------------------------------------------------------------------


def _person(svc: Services, talent_id: int, change: Callable[[Session, Talent], str]) -> Response:
    from engine.store.models import Talent as TalentRow

    def work(session: Session) -> str:
        talent = session.get(TalentRow, talent_id)
        if talent is None:
            raise InputError(f"no talent {talent_id}")
        return change(session, talent)

    return _act(svc, f"/people/{talent_id}", work)


def _set(svc: Services, talent_id: int, **fields: Any) -> Response:
    from engine.talents.edits import Change, set_talent

    def change(session: Session, talent: Talent) -> str:
        done = set_talent(session, talent, Change(**fields), now=svc.clock())
        return "; ".join(done) or "nothing changed"

    return _person(svc, talent_id, change)


@router.post("/people/{talent_id}/stage")
def set_stage(svc: ServicesDep, user: ActionUser, talent_id: int, stage: Text) -> Response:
    return _set(svc, talent_id, stage=stage)


@router.post("/people/{talent_id}/tag")
def add_tag(svc: ServicesDep, user: ActionUser, talent_id: int, tag: Text) -> Response:
    return _set(svc, talent_id, tag=(tag,))


@router.post("/people/{talent_id}/opt-out")
def opt_out(
    svc: ServicesDep, user: ActionUser, talent_id: int,
    channel: Annotated[Literal["email", "sms", "whatsapp"], Form()],
) -> Response:  # fmt: skip
    return _set(svc, talent_id, opt_out=(channel,))


@router.post("/people/{talent_id}/stop")
def stop(svc: ServicesDep, user: ActionUser, talent_id: int, campaign: Text) -> Response:
    from engine.talents.edits import stop_enrollment

    def change(session: Session, talent: Talent) -> str:
        stopped = stop_enrollment(session, talent, campaign, now=svc.clock())
        if stopped is None:
            raise InputError(f"no active enrollment in {campaign}")
        step, withdrawn = stopped
        return f"stopped in {campaign} at step {step}; {withdrawn} planned message(s) withdrawn"

    return _person(svc, talent_id, change)


@router.post("/people/{talent_id}/erase")
def erase(svc: ServicesDep, user: ActionUser, talent_id: int, confirm: Text) -> Response:
    """Erase (GDPR) once the recruiter typed the person's address to confirm."""
    from engine.store.models import Talent as TalentRow
    from engine.talents.privacy import forget

    def work(session: Session) -> str:
        talent = session.get(TalentRow, talent_id)
        address = talent and (talent.email or talent.phone)
        if not address:
            raise InputError(f"talent {talent_id} is already erased")
        if confirm.strip().lower() != address.lower():
            raise InputError(f"type {address} to confirm the erasure")
        forget(session, address, now=svc.clock())
        return f"talent {talent_id} erased; the address is suppressed for good"

    return _act(svc, f"/people/{talent_id}", work)


# --- replies, tasks, outbox -----------------------------------------------------------------


@router.post("/replies/{reply_id}/intent")
def correct_reply(svc: ServicesDep, user: ActionUser, reply_id: int, intent: Text) -> Response:
    from engine.inbound.review import correct

    def work(session: Session) -> str:
        row = correct(session, reply_id, intent, by=user.email, now=svc.clock(),
                      workspace=svc.workspace())  # fmt: skip
        return f"reply {row.id} from {row.talent or 'an unknown sender'}: {intent}"

    return _act(svc, "/replies", work)


@router.post("/tasks/{task_id}/done")
def task_done(svc: ServicesDep, user: ActionUser, task_id: int) -> Response:
    from engine.enrollments.todos import complete_task

    def work(session: Session) -> str:
        task = complete_task(session, task_id, now=svc.clock(), sends=_sends(svc))
        return f"task {task.id} done: {task.title}"

    return _act(svc, "/tasks", work)


@router.post("/outbox/{message_id}/settle")
def settle_message(
    svc: ServicesDep, user: ActionUser, message_id: str,
    outcome: Annotated[Literal["sent", "resend"], Form()],
) -> Response:  # fmt: skip
    from engine.outbox.dispatch import settle

    def work(session: Session) -> str:
        rows = settle(session, [message_id], sent=outcome == "sent", now=svc.clock(),
                      sends=_sends(svc))  # fmt: skip
        return f"{rows[0].message_id}: " + ("sent" if outcome == "sent" else "planned again")

    return _act(svc, "/outbox", work)
