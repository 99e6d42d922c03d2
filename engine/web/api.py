"""``POST /api/events``: inbound triggers from a career site, a talent community, an event.

The caller sends who (email and/or phone, profile fields, tags, consent) and what happened
(``event``, matched against the ``trigger.event`` of inbound sequences). The talent is
created or updated, and enrolled into every campaign whose inbound sequence that event
triggers; an event that no sequence is triggered by gets 400 and writes nothing. An ``id``
makes a retried call count once. Authenticated with
``Authorization: Bearer $NURTURE_API_KEY``.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session
from starlette.concurrency import run_in_threadpool

from campaigns.workspace import Workspace
from engine.enrollments.enroll import enroll_inbound, trigger_event
from engine.store.models import Engagement, Talent, TalentLabel
from engine.talents.addresses import is_suppressed, normalize_email, normalize_phone
from engine.web.deps import FrozenModel, Problem, Services, ServicesDep, services
from sequences.errors import InputError
from sequences.suggest import did_you_mean, one_of

PROFILE = ("first_name", "last_name", "company", "title", "city", "country", "timezone")


MAX_LABELS = 100
Label = Annotated[str, Field(min_length=1, max_length=100)]  # talent_labels.value


def _no_nul(data: Any, where: str = "") -> None:
    """400 for a NUL character anywhere in the body (PostgreSQL cannot store it)."""
    if isinstance(data, str) and "\x00" in data:
        raise ValueError(f"{where or 'a value'} contains a NUL character")
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(
        data, list | tuple) else ()  # fmt: skip
    for key, value in items:
        _no_nul(value, f"{where}.{key}" if where else str(key))


class TalentIn(FrozenModel):
    """Who: at least an email or a phone; phone in any format the country allows."""

    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    company: str | None = Field(default=None, max_length=200)
    title: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=200)
    country: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")
    timezone: str | None = Field(default=None, max_length=64)
    source: str | None = Field(default=None, max_length=100)
    tags: tuple[Label, ...] = Field(default=(), max_length=MAX_LABELS)
    skills: tuple[Label, ...] = Field(default=(), max_length=MAX_LABELS)
    consent: tuple[Literal["email", "sms", "whatsapp"], ...] = ()

    @model_validator(mode="after")
    def _reachable(self) -> TalentIn:
        if not (self.email or self.phone):
            raise ValueError("talent needs an email or a phone")
        return self


class TriggerIn(FrozenModel):
    """What happened: ``event`` names the trigger of one or more inbound sequences."""

    event: str = Field(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$", examples=["talent_community.joined"])
    talent: TalentIn

    @model_validator(mode="before")
    @classmethod
    def _printable(cls, data: Any) -> Any:
        _no_nul(data)
        return data

    id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Idempotency key: a call repeated with the same id is applied once.",
    )


class TriggerOut(FrozenModel):
    talent_id: int | None
    created: bool
    duplicate: bool
    suppressed: bool
    enrolled: tuple[str, ...]


def authorised(request: Request, svc: Services = Depends(services)) -> None:  # noqa: B008
    """The bearer key, compared in constant time."""
    key = svc.config.api_key
    if key is None:
        raise HTTPException(503, "NURTURE_API_KEY is not set: the API is disabled")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    expected = key.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
        raise HTTPException(
            401, "send 'Authorization: Bearer <NURTURE_API_KEY>'", {"WWW-Authenticate": "Bearer"}
        )


router = APIRouter(
    prefix="/api",
    tags=["api"],
    dependencies=[Depends(authorised)],
    responses={400: {"model": Problem}, 401: {"model": Problem}, 503: {"model": Problem}},
)


@router.post("/events", status_code=202, summary="An inbound trigger: upsert and enroll")
async def post_event(trigger: TriggerIn, svc: ServicesDep) -> TriggerOut:
    """Create or update the talent, then enroll them where ``event`` triggers a sequence."""
    return await run_in_threadpool(receive_trigger, svc, trigger)


def receive_trigger(svc: Services, trigger: TriggerIn) -> TriggerOut:
    person = trigger.talent
    email = normalize_email(person.email) if person.email else None
    phone = (
        normalize_phone(person.phone, person.country and person.country.upper())
        if person.phone
        else None
    )
    _check_timezone(person.timezone)
    workspace = svc.workspace()
    if workspace is None:
        raise HTTPException(503, "the workspace is invalid; see the server log")
    _check_event(workspace, trigger.event)
    now = svc.clock()

    def work(session: Session) -> TriggerOut:
        if is_suppressed(session, email, phone):
            return TriggerOut(
                talent_id=None, created=False, duplicate=False, suppressed=True, enrolled=()
            )
        if trigger.id and _seen(session, trigger.id):
            return TriggerOut(
                talent_id=None, created=False, duplicate=True, suppressed=False, enrolled=()
            )
        talent, created = upsert_talent(session, person, email, phone, now)
        session.add(
            Engagement(
                talent_id=talent.id,
                kind="triggered",
                occurred_at=now,
                provider="api" if trigger.id else None,
                provider_event_id=trigger.id,
                detail=f"inbound event {trigger.event}",
                data={"event": trigger.event},
            )
        )
        enrolled = enroll_inbound(session, workspace, trigger.event, talent.id, now=now)
        names = tuple(enrollment.campaign for enrollment in enrolled)
        return TriggerOut(
            talent_id=talent.id, created=created, duplicate=False, suppressed=False, enrolled=names
        )

    return svc.transaction(work)


def _check_timezone(name: str | None) -> None:
    try:
        if name:
            ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InputError(f"talent.timezone: unknown time zone {name!r}") from exc


def _check_event(workspace: Workspace, event: str) -> None:
    """An event no inbound sequence waits for is a caller's mistake (a typo in a form's
    integration), refused before anything is written rather than stored and forgotten."""
    events = (trigger_event(doc) for doc in workspace.sequences.values())
    triggers = sorted({name for name in events if name is not None})
    if event not in triggers:
        known = one_of(triggers) if triggers else "none: the workspace has no inbound sequence"
        hint = did_you_mean(event, triggers)
        raise InputError(f"event: no sequence is triggered by {event!r}{hint} (triggers: {known})")


def _seen(session: Session, event_id: str) -> bool:
    found = session.scalar(
        select(Engagement.id).where(
            Engagement.provider == "api", Engagement.provider_event_id == event_id
        )
    )
    return found is not None


def upsert_talent(
    session: Session, person: TalentIn, email: str | None, phone: str | None, now: datetime
) -> tuple[Talent, bool]:
    """The talent with this email (else phone), updated with what was sent; or a new one."""
    talent = _find(session, email, phone)
    created = talent is None
    if talent is None:
        talent = Talent(
            email=email, phone=phone, stage="person", links={}, attributes={}, created_at=now
        )
        session.add(talent)
    for name in PROFILE:
        if value := getattr(person, name):
            setattr(talent, name, value.upper() if name == "country" else value)
    talent.source = talent.source or person.source
    talent.email = talent.email or (email if not _taken(session, Talent.email, email) else None)
    talent.phone = talent.phone or (phone if not _taken(session, Talent.phone, phone) else None)
    for channel in person.consent:
        setattr(talent, f"{channel}_consent_at", now)
    talent.updated_at = now
    session.flush()
    _add_labels(session, talent, "tag", person.tags)
    _add_labels(session, talent, "skill", person.skills)
    return talent, created


def _find(session: Session, email: str | None, phone: str | None) -> Talent | None:
    by_email = session.scalar(select(Talent).where(Talent.email == email)) if email else None
    return by_email or (
        session.scalar(select(Talent).where(Talent.phone == phone)) if phone else None
    )


def _taken(session: Session, column: InstrumentedAttribute[str | None], value: str | None) -> bool:
    return (
        value is not None and session.scalar(select(Talent.id).where(column == value)) is not None
    )


def _add_labels(session: Session, talent: Talent, kind: str, values: tuple[str, ...]) -> None:
    have = {(label.kind, label.value) for label in talent.labels}
    for value in {v.strip().lower() for v in values if v.strip()}:
        if (kind, value) not in have:
            talent.labels.append(TalentLabel(kind=kind, value=value))
