"""The webhook and API app (FastAPI), served by ``nurture serve`` with uvicorn; its routes
and the module of :mod:`engine.web` behind each:

    POST /webhooks/sendgrid/events           Event Webhook, ECDSA-signed       webhooks
    POST /webhooks/sendgrid/inbound/{secret} Inbound Parse: email replies      webhooks
    POST /webhooks/twilio/messages           inbound SMS/WhatsApp, signed      webhooks
    POST /webhooks/twilio/status             status callbacks, signed          webhooks
    POST /api/events                         inbound triggers, bearer key      api
    GET, POST /unsubscribe/{token}           one-click unsubscribe (RFC 8058)  unsubscribe
    GET /healthz                             liveness and database check       here
    GET / and the desk's pages, POST actions the recruiter's desk, session + CSRF  desk

OpenAPI's schema is at ``/openapi.json``; its Swagger page (``/docs``) is off, because
FastAPI's loads its scripts from a CDN and shows a blank page offline.

Every webhook checks its signature first, then parses, then writes in one transaction:
403 for a forged, stale or unsigned request, 400 with the reason for a malformed body,
413 above ``max_body`` bytes (announced or streamed), and nothing is written in those cases.
A replayed event is accepted and stored once (``engagements`` is unique on the provider's
event id).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from channels.errors import PayloadError, SignatureError
from engine.config import Config
from engine.core.clock import Clock, system_clock
from engine.inbound.intent import Classifier, RuleClassifier, load_phrases
from engine.store.database import Database
from engine.web import api as inbound_api
from engine.web import unsubscribe, webhooks
from engine.web.deps import Health, Problem, Services, ServicesDep
from engine.web.desk.routes import add_desk
from sequences.errors import InputError

MAX_BODY = 1024 * 1024  # 1 MiB: a SendGrid batch of 500 events is about 250 kB
MAX_INBOUND_BODY = 32 * 1024 * 1024  # Inbound Parse posts attachments (SendGrid caps at 30 MB)
INBOUND_PATH = "/webhooks/sendgrid/inbound/"
logger = logging.getLogger("nurture.webapp")


def create_app(
    config: Config,
    db: Database,
    clock: Clock = system_clock,
    *,
    classifier: Classifier | None = None,
    max_body: int = MAX_BODY,
    max_inbound_body: int = MAX_INBOUND_BODY,
) -> FastAPI:
    """The app, wired to one database and one clock; OpenAPI schema at ``/openapi.json``."""
    app = FastAPI(
        title="nurture",
        summary="Webhooks, inbound triggers and one-click unsubscribe for the nurture engine.",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = Services(
        config=config,
        db=db,
        clock=clock,
        classifier=classifier or RuleClassifier(load_phrases(config.workspace)),
    )
    app.add_middleware(BodyLimit, max_body=max_body, larger={INBOUND_PATH: max_inbound_body})
    _add_error_handlers(app)
    for module in (webhooks, inbound_api, unsubscribe):
        app.include_router(module.router)
    add_desk(app)
    app.add_api_route(
        "/healthz",
        healthz,
        methods=["GET"],
        tags=["operations"],
        summary="Liveness and database check",
    )
    return app


async def healthz(svc: ServicesDep) -> JSONResponse:
    """Liveness, and whether the database answers."""

    def check() -> bool:
        try:
            with svc.db.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError as exc:
            logger.error("health check: database unreachable: %s", exc)
            return False

    ok = await run_in_threadpool(check)
    body = Health(status="ok" if ok else "error", database="ok" if ok else "unreachable")
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


# --- errors ------------------------------------------------------------------------------


_ERRORS = {
    400: "malformed",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    503: "unavailable",
}


def _problem(status: int, error: str, detail: str, **headers: str) -> JSONResponse:
    return JSONResponse(Problem(error=error, detail=detail).model_dump(), status, headers)


def _add_error_handlers(app: FastAPI) -> None:
    async def forbidden(_: Request, exc: Exception) -> JSONResponse:
        logger.warning("webhook rejected (403): %s", exc)
        return _problem(403, "forbidden", str(exc))

    async def malformed(_: Request, exc: Exception) -> JSONResponse:
        logger.warning("request rejected (400): %s", exc)
        return _problem(400, "malformed", str(exc))

    async def invalid(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        reasons = "; ".join(_reason(error) for error in exc.errors())
        return _problem(400, "malformed", reasons)

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        error = _ERRORS.get(exc.status_code, "error")
        return _problem(exc.status_code, error, str(exc.detail), **(exc.headers or {}))

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(SignatureError, forbidden)
    app.add_exception_handler(PayloadError, malformed)
    app.add_exception_handler(InputError, malformed)
    app.add_exception_handler(RequestValidationError, invalid)


def _reason(error: Any) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
    return f"{where}: {error.get('msg')}" if where else str(error.get("msg"))


# --- body limit --------------------------------------------------------------------------


class BodyLimit:
    """413 for a body above the limit: announced (Content-Length) or streamed.

    ``larger`` maps path prefixes to their own, larger, limits. The streamed case raises
    from ``receive`` while the route reads the body, that is before anything is verified,
    parsed or written.
    """

    def __init__(self, app: ASGIApp, max_body: int, larger: dict[str, int] | None = None) -> None:
        self.app, self.max_body, self.larger = app, max_body, larger or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        limit = next((n for p, n in self.larger.items() if path.startswith(p)), self.max_body)
        length = Headers(scope=scope).get("content-length")
        if length is not None and not length.isdigit():
            await _problem(400, "malformed", "Content-Length is not a number")(scope, receive, send)
        elif length is not None and int(length) > limit:
            await _problem(413, "too_large", _too_big(limit))(scope, receive, send)
        else:
            await self.app(scope, _counting(receive, limit), send)


def _too_big(limit: int) -> str:
    return f"request body above {limit} bytes"


def _counting(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise HTTPException(413, detail=_too_big(limit))
        return message

    return counted


# --- access log --------------------------------------------------------------------------

# Paths that carry a secret: the Inbound Parse secret, an unsubscribe token (each names a
# person). Everything after the prefix, query string included, is left out of the log.
_SECRET_PATHS = re.compile(r"^(/webhooks/sendgrid/inbound/|/unsubscribe/)[^\s]*")


class RedactSecrets(logging.Filter):
    """Hides the secret part of a request path in uvicorn's access log (its third argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_path(args[2]), *args[3:])
        return True


def redact_path(path: str) -> str:
    """``/unsubscribe/<token>`` as ``/unsubscribe/…``; other paths as they are."""
    return _SECRET_PATHS.sub(r"\1…", path)


def redact_access_log() -> None:
    """Install :class:`RedactSecrets` on uvicorn's access logger (once)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactSecrets) for f in access.filters):
        access.addFilter(RedactSecrets())
