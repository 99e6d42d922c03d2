"""What every desk route goes through: the session cookie, the CSRF token, the templates.

A page asked for without a valid session redirects to ``/signin`` (303); an action posted
without one, or with a CSRF token other than the session's, is refused (403) and changes
nothing. The cookie is ``HttpOnly``, ``SameSite=Lax``, and ``Secure`` when the request came
over HTTPS (the request's scheme, or ``X-Forwarded-Proto`` from a proxy in front).
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from engine.web.deps import Services, services
from engine.web.desk.accounts import SESSION_LIFETIME, SignedIn, signed_in

COOKIE = "nurture_desk"
SIGNIN_COOKIE = "nurture_signin"  # the sign-in form's own CSRF token (no session yet)
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


class SignInRequired(Exception):
    """No valid session: a page redirects to the sign-in form."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


class Forbidden(Exception):
    """An action without a session or with a forged CSRF token."""


def secure(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return forwarded == "https" or request.url.scheme == "https"


def set_cookie(request: Request, response: Response, name: str, value: str) -> None:
    response.set_cookie(name, value, max_age=int(SESSION_LIFETIME.total_seconds()),
                        httponly=True, samesite="lax", secure=secure(request),
                        path="/")  # fmt: skip


async def _current(request: Request, svc: Services) -> SignedIn | None:
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 200:
        return None

    def look() -> SignedIn | None:
        with svc.db.session() as session:
            return signed_in(session, token, now=svc.clock())

    return await run_in_threadpool(look)


async def page_user(request: Request, svc: Annotated[Services, Depends(services)]) -> SignedIn:
    """The signed-in recruiter of a page; else a redirect to the sign-in form."""
    user = await _current(request, svc)
    if user is None:
        raise SignInRequired(request.url.path)
    return user


async def action_user(request: Request, svc: Annotated[Services, Depends(services)]) -> SignedIn:
    """The signed-in recruiter of an action whose form carries the session's CSRF token."""
    user = await _current(request, svc)
    form = await request.form()
    token = form.get("csrf")
    if user is None or not isinstance(token, str) or not same(token, user.csrf):
        raise Forbidden("sign in again: this form is not from your desk session")
    return user


def same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


PageUser = Annotated[SignedIn, Depends(page_user)]
ActionUser = Annotated[SignedIn, Depends(action_user)]


def render(
    request: Request, template: str, user: SignedIn | None, status: int = 200, **context: Any
) -> HTMLResponse:
    return templates.TemplateResponse(
        request, template, {"user": user, "csrf": user.csrf if user else "", **context}, status
    )


def signin_redirect(path: str) -> Response:
    from fastapi.responses import RedirectResponse

    return RedirectResponse(f"/signin?next={quote(path)}", status_code=303)
