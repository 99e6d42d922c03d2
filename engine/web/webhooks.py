"""Provider webhooks: SendGrid events and Inbound Parse, Twilio messages and status.

Each route: verify (403), parse (400), then one transaction through ``engine.inbound.events``.
Replies are matched to our message (``engine.inbound.matching``) and classified
(``engine.inbound.intent``) before the engine applies them.
"""

from __future__ import annotations

import dataclasses
import hmac
import logging
from collections.abc import Sequence

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from channels import sendgrid, twilio
from channels.base import InboundEvent
from channels.cleaning import clean_event, clean_form
from channels.errors import SignatureError
from channels.quoting import strip_quoted
from engine.inbound.batches import BatchResult, apply_events
from engine.inbound.events import Applied, apply_event
from engine.inbound.intent import Classifier, Verdict
from engine.inbound.matching import Match, correlate, reply_key
from engine.inbound.review import held, note_verdict
from engine.store.models import OutboxMessage
from engine.talents.privacy import without_erased
from engine.web.deps import FrozenModel, Problem, Services, ServicesDep

logger = logging.getLogger("nurture.webhooks")
router = APIRouter(
    prefix="/webhooks",
    tags=["webhooks"],
    responses={
        400: {"model": Problem, "description": "Malformed body; nothing written"},
        403: {"model": Problem, "description": "Bad, stale or missing signature; nothing written"},
        413: {"model": Problem, "description": "Body too large; nothing written"},
    },
)
CLASSIFIED_CHARS = 10_000  # what a person writes before the quoted history, and then some
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


class Stored(FrozenModel):
    """Events received in the request, newly stored, and already known (replays)."""

    received: int
    stored: int
    duplicates: int


class ReplyStored(FrozenModel):
    """A reply (or opt-out): its intent and how it was matched to one of our messages."""

    duplicate: bool
    kind: str
    intent: str | None
    confidence: float | None
    matched_by: str
    verified: bool  # the reply proves it answers us; unverified, it can only opt out
    talent_id: int | None
    enrollment_id: int | None
    reply_id: int | None = None  # the timeline row `nurture replies set` corrects


@router.post("/sendgrid/events", summary="SendGrid Event Webhook (ECDSA-signed)")
async def sendgrid_events(request: Request, svc: ServicesDep) -> Stored:
    """Delivered, opened, clicked, bounced, spam reports, unsubscribes... in batches."""
    body = await request.body()
    key = svc.config.sendgrid_webhook_public_key
    if not key:
        raise SignatureError("SENDGRID_WEBHOOK_PUBLIC_KEY is not set: events cannot be verified")
    sendgrid.verify_event_webhook(body, request.headers, key, now=svc.clock())
    events = [clean_event(event) for event in sendgrid.parse_events(body)]
    return await run_in_threadpool(store_events, svc, events)


@router.post("/sendgrid/inbound/{secret}", summary="SendGrid Inbound Parse: email replies")
async def sendgrid_inbound(secret: str, request: Request, svc: ServicesDep) -> ReplyStored:
    """A reply to one of our emails (multipart); the secret in the URL authenticates it."""
    expected = svc.config.inbound_secret
    if expected is None:
        raise SignatureError("NURTURE_INBOUND_SECRET is not set: inbound mail is refused")
    if not hmac.compare_digest(secret.encode(), expected.get_secret_value().encode()):
        raise SignatureError("wrong inbound secret in the URL")
    body = await request.body()  # the app's BodyLimit caps it (MAX_INBOUND_BODY)
    content_type = request.headers.get("content-type", "")
    return await run_in_threadpool(_store_inbound_parse, svc, body, content_type)


def _store_inbound_parse(svc: Services, body: bytes, content_type: str) -> ReplyStored:
    """Read and store an Inbound Parse post, in a worker thread: a large one takes time."""
    # Each field in its declared charset (SendGrid's ``charsets``): Starlette reads UTF-8 only.
    fields = clean_form(sendgrid.inbound_form(body, content_type))
    event = sendgrid.parse_inbound(
        fields, inbound_domain=svc.config.inbound_domain, received_at=svc.clock()
    )
    return store_reply(svc, clean_event(event))


@router.post("/twilio/messages", summary="Twilio inbound SMS/WhatsApp (signed)")
async def twilio_messages(request: Request, svc: ServicesDep) -> Response:
    """A text reply, or STOP/START; answered with empty TwiML."""
    params, _ = await _signed_twilio_params(request, svc)
    event = twilio.parse_inbound_message(clean_form(params), received_at=svc.clock())
    event = dataclasses.replace(event, sender_authenticated=True)  # Twilio signed the sender
    await run_in_threadpool(store_reply, svc, clean_event(event))
    return Response(EMPTY_TWIML, media_type="application/xml")


@router.post("/twilio/status", status_code=204, summary="Twilio status callbacks (signed)")
async def twilio_status(request: Request, svc: ServicesDep) -> Response:
    """Sent, delivered, undelivered, failed; carries our message id as a parameter."""
    params, url = await _signed_twilio_params(request, svc)
    event = twilio.parse_status(clean_form(params), url=url, received_at=svc.clock())
    await run_in_threadpool(store_events, svc, [clean_event(event)])
    return Response(status_code=204)


async def _signed_twilio_params(request: Request, svc: Services) -> tuple[dict[str, str], str]:
    """The form parameters and the public URL, once ``X-Twilio-Signature`` is checked."""
    token = svc.config.twilio_auth_token
    if token is None:
        raise SignatureError("TWILIO_AUTH_TOKEN is not set: requests cannot be verified")
    signature = request.headers.get("x-twilio-signature")
    if not signature:
        raise SignatureError("missing X-Twilio-Signature header")
    async with request.form() as form:
        params = {key: value for key, value in form.multi_items() if isinstance(value, str)}
    query = f"?{request.url.query}" if request.url.query else ""
    url = f"{svc.config.public_url}{request.url.path}{query}"
    settings = request.headers.get("x-twilio-webhooks-signature-settings")
    twilio.verify_request(
        url, params, signature, token.get_secret_value(), signature_settings=settings
    )
    return params, url


# --- storing -----------------------------------------------------------------------------


def store_events(svc: Services, events: Sequence[InboundEvent]) -> Stored:
    """Apply provider events in one transaction; replays come back as duplicates."""

    def work(session: Session) -> BatchResult:
        cleared = without_erased(session, events)
        return apply_events(session, cleared, now=svc.clock(), workspace=svc.workspace)

    result = svc.transaction(work)
    return Stored(received=result.received, stored=result.stored, duplicates=result.duplicates)


def store_reply(svc: Services, event: InboundEvent) -> ReplyStored:
    """Match, read again, classify (replies only) and apply one message from a person.

    The message may also be STOP/START (SMS) or a mail to our unsubscribe address. A verdict
    below ``replies.review_below`` is held for the recruiter (``engine.inbound.review``).
    """
    settings = svc.settings()
    review_below = settings.replies.review_below if settings else 0.0

    def work(session: Session) -> tuple[Match, Applied, Verdict | None, int | None]:
        (cleared,) = without_erased(session, [event])  # an erased person's reply: unread
        correlated, match = correlate(session, cleared)
        correlated = reread(session, correlated)
        readable = event.kind == "replied" and cleared is event
        verdict = classify_reply(svc.classifier, correlated) if readable else None
        hold = verdict is not None and match.verified and held(verdict, review_below)
        key = reply_key(correlated, verified=match.verified)
        correlated = dataclasses.replace(correlated, provider_event_id=key)
        applied = apply_event(
            session,
            correlated,
            now=svc.clock(),
            intent=verdict.intent if verdict and not hold else None,
            workspace=svc.workspace,  # read only for a task or guard the branch reaches
            branch=not hold,
            verified=match.verified,
        )
        noted = None
        if verdict and not applied.duplicate:
            noted = note_verdict(session, correlated, verdict, match, hold=hold)
        return match, applied, verdict, noted.id if noted else None

    match, applied, verdict, reply_id = svc.transaction(work)
    if verdict and verdict.intent == "interested" and match.verified and not applied.duplicate:
        logger.info(
            "interested reply: talent %s, enrollment %s (%s)",
            applied.talent_id,
            applied.enrollment_id,
            verdict.reason,
        )
    return ReplyStored(
        duplicate=applied.duplicate,
        kind=event.kind,
        intent=verdict.intent if verdict else None,
        confidence=verdict.confidence if verdict else None,
        matched_by=match.how,
        verified=match.verified,
        talent_id=applied.talent_id,
        enrollment_id=applied.enrollment_id,
        reply_id=reply_id,
    )


def reread(session: Session, event: InboundEvent) -> InboundEvent:
    """The reply's new text read again knowing the message it answers (see channels.quoting)."""
    if event.body is None or event.message_id is None:
        return event
    sent = session.scalar(
        select(OutboxMessage.text).where(OutboxMessage.message_id == event.message_id)
    )
    if not sent:
        return event
    return dataclasses.replace(event, text=strip_quoted(event.body, sent=sent))


def classify_reply(classifier: Classifier, event: InboundEvent) -> Verdict:
    """The reply's intent, read from the first CLASSIFIED_CHARS of its new text; a reply the
    provider flagged as automatic is out of office."""
    text = (event.text or "")[:CLASSIFIED_CHARS]
    verdict = classifier.classify(text, subject=event.subject, headers=event.headers)
    if event.auto_reply and verdict.intent != "out_of_office":
        return Verdict("out_of_office", 0.99, "automatic reply (flagged by the provider)")
    return verdict
