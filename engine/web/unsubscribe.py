"""``/unsubscribe/{token}``: the link in every message, and RFC 8058 one-click.

GET shows a small confirmation page with one button (mail scanners follow links; only a
POST unsubscribes). POST, from that button or from a mail client's one-click
(``List-Unsubscribe=One-Click``), opts the talent out of that channel in every campaign
at once. Tokens are signed (``engine.core.links``); the pages never show the address.
"""

from __future__ import annotations

import html
from datetime import datetime

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from channels.base import InboundEvent
from engine.core.links import read_unsubscribe_token
from engine.inbound.events import apply_event
from engine.store.models import CHANNELS, Talent
from engine.web.deps import Services, ServicesDep
from sequences.errors import InputError

router = APIRouter(tags=["unsubscribe"])

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{title}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}}
button{{font:inherit;padding:.6rem 1.2rem;border-radius:.4rem;border:1px solid #444;
background:#222;color:#fff;cursor:pointer}}</style></head>
<body><h1>{title}</h1>{body}</body></html>"""
_WHAT = {"email": "emails", "sms": "text messages", "whatsapp": "WhatsApp messages"}


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=html.escape(title), body=body), status_code=status)


def _invalid() -> HTMLResponse:
    return _page(
        "This link is not valid",
        "<p>It may have been copied incompletely. Reply STOP or 'unsubscribe' to the "
        "message instead, and we will not contact you again.</p>",
        404,
    )


def _read(svc: Services, token: str) -> tuple[int, str, str | None] | None:
    try:
        found = read_unsubscribe_token(svc.link_key, token)
    except InputError:
        return None
    return found if found[1] in CHANNELS else None


@router.get("/unsubscribe/{token}", response_class=HTMLResponse, summary="Confirmation page")
async def confirm(token: str, svc: ServicesDep) -> HTMLResponse:
    """A page with one button; following the link changes nothing."""
    found = _read(svc, token)
    if found is None:
        return _invalid()
    what = _WHAT[found[1]]
    return _page(
        f"Unsubscribe from our {what}?",
        f'<form method="post"><p>You will not receive any more {what} from us, '
        "from any campaign.</p><button type=submit>Unsubscribe</button></form>",
    )


@router.post("/unsubscribe/{token}", response_class=HTMLResponse, summary="One-click unsubscribe")
async def unsubscribe(token: str, svc: ServicesDep) -> HTMLResponse:
    """RFC 8058 one-click (``List-Unsubscribe=One-Click``) or the page's button."""
    found = _read(svc, token)
    if found is None:
        return _invalid()
    talent_id, channel, message_id = found
    await run_in_threadpool(
        lambda: svc.transaction(lambda s: opt_out(s, talent_id, channel, svc.clock(), message_id))
    )
    return _page(
        "You are unsubscribed", f"<p>You will not receive any more {_WHAT[channel]} from us.</p>"
    )


def opt_out(
    session: Session, talent_id: int, channel: str, now: datetime, message_id: str | None = None
) -> bool:
    """Record the unsubscribe through the engine, against the message the link came in
    when the link names it; False when already done (or erased)."""
    talent = session.get(Talent, talent_id, with_for_update=True)  # one opt-out at a time
    if talent is None or talent.erased_at is not None or talent.opted_out(channel):
        return False
    address = talent.email if channel == "email" else talent.phone
    event = InboundEvent(
        kind="unsubscribed",
        provider="nurture",
        provider_event_id=f"unsubscribe-link:{talent_id}:{channel}:{now.isoformat()}",
        occurred_at=now,
        channel=channel,  # type: ignore[arg-type]
        message_id=message_id,
        address=address,
        reason="unsubscribe link",
    )
    apply_event(session, event, now=now)
    return True
