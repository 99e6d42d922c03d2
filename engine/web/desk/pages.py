"""The desk's pages (GET): each reads through the engine's own queries, the ones the CLI
prints (one source of truth), and needs a signed-in recruiter."""

from __future__ import annotations

import secrets
from datetime import UTC, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from engine.web.deps import ServicesDep
from engine.web.desk.guard import SIGNIN_COOKIE, PageUser, render, set_cookie
from sequences.errors import InputError

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
CHART_DAYS = 30  # the campaigns' sends and replies per day
Notice = Annotated[str | None, Query(max_length=500)]


@router.get("/")
def home(user: PageUser) -> Response:
    return RedirectResponse("/campaigns", status_code=303)


@router.get("/signin")
def signin_form(request: Request, next: str = "/", error: str | None = None) -> HTMLResponse:
    """The sign-in form; its CSRF token is a cookie of its own (there is no session yet)."""
    token = request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(32)
    response = render(request, "signin.html", None, 401 if error else 200,
                      signin_csrf=token, next=next, error=error)  # fmt: skip
    set_cookie(request, response, SIGNIN_COOKIE, token)
    return response


@router.get("/campaigns")
def campaigns_page(
    request: Request, svc: ServicesDep, user: PageUser, notice: Notice = None,
    error: Notice = None,
) -> HTMLResponse:  # fmt: skip
    from engine.reports.campaigns import campaign_overview, next_tick, per_day
    from engine.reports.funnel import ALL, METRICS, errors, funnel
    from engine.web.desk.charts import day_chart

    workspace, now = svc.workspace(), svc.clock()
    with svc.db.session() as session:
        overview = campaign_overview(session, workspace) if workspace else []
        schedules = {n: c.schedule for n, c in workspace.campaigns.items()} if workspace else {}
        rows, stuck = funnel(session), errors(session)
        days = per_day(session, list(schedules), now, CHART_DAYS)
    first = now.astimezone(UTC).date() - timedelta(days=CHART_DAYS - 1)
    for row in overview:
        name = row["campaign"]
        row["funnel"] = [r for r in rows if r.campaign == name]
        row["errors"] = [e for e in stuck if e.campaign == name]
        row["schedule"] = schedules[name]
        row["next_tick"] = next_tick(schedules[name], now)
        series = days[name]
        row["totals"] = {kind: sum(counts) for kind, counts in series.items()}
        row["chart"] = day_chart(first, series)
    return render(request, "campaigns.html", user, campaigns=overview, metrics=METRICS,
                  ALL=ALL, workspace_ok=workspace is not None, notice=notice, error=error,
                  chart_days=CHART_DAYS)  # fmt: skip


@router.get("/people")
def people_page(
    request: Request, svc: ServicesDep, user: PageUser,
    q: Annotated[str, Query(max_length=200)] = "",
    tag: Annotated[str, Query(max_length=100)] = "",
    stage: Annotated[str, Query(max_length=32)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:  # fmt: skip
    from engine.talents.edits import talent_query
    from sequences.model import STAGES

    error = None
    try:
        query = talent_query(stages=[stage] if stage else (), tags=[tag] if tag.strip() else (),
                             search=q or None)  # fmt: skip
    except InputError as exc:
        error, query = str(exc), None
    found: list[Any] = []
    if query is not None:
        with svc.db.session() as session:
            offset = (page - 1) * PAGE_SIZE
            found = list(session.scalars(query.offset(offset).limit(PAGE_SIZE + 1)))
    return render(request, "people.html", user, people=found[:PAGE_SIZE], q=q, tag=tag,
                  stage=stage, page=page, more=len(found) > PAGE_SIZE, stages=STAGES,
                  error=error)  # fmt: skip


@router.get("/people/{talent_id}")
def person_page(
    request: Request, svc: ServicesDep, user: PageUser, talent_id: int,
    notice: Notice = None, error: Notice = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:  # fmt: skip
    from engine.store.models import Talent
    from engine.talents.privacy import export_talent
    from sequences.model import STAGES

    with svc.db.session() as session:
        talent = session.get(Talent, talent_id)
        data = export_talent(session, talent) if talent is not None else None
    if data is None:
        return render(request, "missing.html", user, 404, what=f"talent {talent_id}")
    newest = list(reversed(data["timeline"]))
    shown = newest[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return render(request, "person.html", user, data=data, t=data["talent"], stages=STAGES,
                  timeline=shown, page=page, more=len(newest) > page * PAGE_SIZE,
                  notice=notice, error=error)  # fmt: skip


@router.get("/people/{talent_id}/erase")
def erase_page(request: Request, svc: ServicesDep, user: PageUser, talent_id: int) -> Response:
    from engine.store.models import Talent

    with svc.db.session() as session:
        talent = session.get(Talent, talent_id)
        address = talent and (talent.email or talent.phone)
        name = talent.full_name if talent else ""
    if not address:
        return render(request, "missing.html", user, 404, what=f"talent {talent_id}")
    return render(request, "erase.html", user, talent_id=talent_id, address=address, name=name)


@router.get("/replies")
def replies_page(
    request: Request, svc: ServicesDep, user: PageUser,
    intent: Annotated[str, Query(max_length=32)] = "",
    unverified: bool = False, notice: Notice = None, error: Notice = None,
) -> HTMLResponse:  # fmt: skip
    from engine.inbound.review import recent_replies
    from sequences.model import INTENTS

    try:
        with svc.db.session() as session:
            rows = recent_replies(session, intent=intent or None, unverified=unverified,
                                  limit=PAGE_SIZE)  # fmt: skip
    except InputError as exc:
        rows, error = [], str(exc)
    return render(request, "replies.html", user, replies=rows, intents=INTENTS, intent=intent,
                  unverified=unverified, notice=notice, error=error)  # fmt: skip


@router.get("/tasks")
def tasks_page(
    request: Request, svc: ServicesDep, user: PageUser, notice: Notice = None,
    error: Notice = None, done: bool = False,
) -> HTMLResponse:  # fmt: skip
    from engine.enrollments.todos import open_tasks

    with svc.db.session() as session:
        found = open_tasks(session, include_done=done)
    return render(request, "tasks.html", user, tasks=found, done=done, notice=notice,
                  error=error)  # fmt: skip


@router.get("/outbox")
def outbox_page(
    request: Request, svc: ServicesDep, user: PageUser, notice: Notice = None,
    error: Notice = None,
) -> HTMLResponse:  # fmt: skip
    from engine.outbox.listing import outbox_rows

    with svc.db.session() as session:
        doubt = outbox_rows(session, status="in_doubt", limit=200)
        recent = outbox_rows(session, limit=PAGE_SIZE)
    return render(request, "outbox.html", user, in_doubt=doubt, recent=recent, notice=notice,
                  error=error)  # fmt: skip


@router.get("/sequences")
def sequences_page(request: Request, svc: ServicesDep, user: PageUser) -> HTMLResponse:
    workspace = svc.workspace()
    names = sorted(workspace.sequences) if workspace else []
    return render(request, "sequences.html", user, names=names, problems=_problems(svc))


@router.get("/sequences/{sequence_id}")
def sequence_page(
    request: Request, svc: ServicesDep, user: PageUser, sequence_id: str,
    talent: Annotated[str, Query(max_length=320)] = "",
) -> HTMLResponse:  # fmt: skip
    from engine.web.desk.previews import previews
    from sequences.picture import to_svg

    workspace = svc.workspace()
    document = workspace.sequences.get(sequence_id) if workspace else None
    if workspace is None or document is None:
        return render(request, "missing.html", user, 404, what=f"sequence {sequence_id}",
                      problems=_problems(svc))  # fmt: skip
    with svc.db.session() as session:
        shown, error = previews(session, workspace, document, talent or None)
    return render(request, "sequence.html", user, name=sequence_id, svg=to_svg(document.sequence),
                  previews=shown, talent=talent, error=error,
                  problems=_problems(svc))  # fmt: skip


def _problems(svc: Any) -> list[str]:
    """The workspace's errors and warnings, as ``nurture validate`` prints them."""
    from campaigns.workspace import check_workspace

    return [str(problem) for problem in check_workspace(svc.config.workspace)[1]]
