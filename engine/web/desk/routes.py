"""The desk mounted on the app: its pages and actions, its static files, its two answers to
a request without a session (sign-in redirect for a page, 403 for an action)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from engine.web.desk import actions, pages
from engine.web.desk.guard import HERE, Forbidden, SignInRequired, render, signin_redirect
from engine.web.desk.throttle import SignInThrottle

STATIC = "/desk/static"


def add_desk(app: FastAPI) -> None:
    """Add the desk's routes, static files and error pages to ``app``, and its memory of
    failed sign-ins (one per app: see ``throttle``)."""
    app.state.signin_throttle = SignInThrottle()
    app.include_router(pages.router)
    app.include_router(actions.router)
    app.mount(STATIC, StaticFiles(directory=HERE / "static"), name="desk-static")

    async def sign_in_first(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        return signin_redirect(exc.path)

    async def forbidden(request: Request, exc: Exception) -> HTMLResponse:
        return render(request, "forbidden.html", None, 403, reason=str(exc))

    app.add_exception_handler(SignInRequired, sign_in_first)
    app.add_exception_handler(Forbidden, forbidden)
