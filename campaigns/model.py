"""Frozen models of a campaign: who sends which sequence to whom, when, and how fast."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

import phonenumbers
from cronsim import CronSim, CronSimError
from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, field_validator

from sequences.model import DurationField, Stage
from sequences.zones import check_timezone

_ID = r"^[a-z0-9][a-z0-9_-]*$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _e164(value: str | None) -> str | None:
    """``value`` when it is a valid phone number written in E.164 (``+4915112345678``)."""
    if value is None:
        return None
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{value!r} is not a phone number in E.164 form (+4915112345678)") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"{value!r} is not a valid phone number")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if e164 != value:
        raise ValueError(f"write the phone number in E.164 form: {e164!r}")
    return value


PhoneNumber = Annotated[str, AfterValidator(_e164)]


class Sender(_Frozen):
    """Who the messages come from; replies and opt-outs come back to this identity."""

    name: str = Field(description="Display name, e.g. 'Charlotte Bellet'.")
    email: EmailStr = Field(description="From address of email steps.")
    sms_from: PhoneNumber | None = Field(default=None, description="E.164 number for SMS steps.")
    whatsapp_from: PhoneNumber | None = Field(
        default=None, description="E.164 number enabled for WhatsApp."
    )
    messaging_service_sid: str | None = Field(
        default=None, description="Twilio Messaging Service to send SMS from instead of a number."
    )
    signature: str | None = Field(default=None, description="Available as sender.signature.")

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.split() else self.name


class Audience(_Frozen):
    """Who is enrolled; compiled to one SQL select by the engine, never in Python.

    Every condition given must hold. Erased and snoozed talents are never selected, and
    ``not_interested`` talents only once their re-contact date has passed.
    """

    stage: tuple[Stage, ...] = Field(
        default=("person", "prospect"), description="Lifecycle stages to include."
    )
    tags_all: tuple[str, ...] = Field(default=(), description="Talent has every one of these.")
    tags_any: tuple[str, ...] = Field(default=(), description="Talent has at least one of these.")
    skills_any: tuple[str, ...] = Field(default=(), description="At least one of these skills.")
    location: str | None = Field(
        default=None, description="City, or ISO country code, case-insensitive ('Berlin', 'DE')."
    )
    source: str | None = Field(default=None, description="Where the talent came from.")
    not_contacted_for: DurationField | None = Field(
        default=None, description="Not contacted for this long (never contacted counts)."
    )
    created_after: date | None = Field(default=None, description="Added on or after this date.")
    attributes: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Custom attributes that must equal these values."
    )

    @field_validator("not_contacted_for")
    @classmethod
    def _calendar_duration(cls, value: object) -> object:
        if getattr(value, "unit", None) == "business days":
            raise ValueError("not_contacted_for takes days or weeks, not business days")
        return value

    @field_validator("attributes")
    @classmethod
    def _attribute_names(cls, value: dict[str, object]) -> dict[str, object]:
        for key in value:
            if not key.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"attribute name {key!r}: use letters, digits, '_' and '-'")
        return value

    @field_validator("tags_all", "tags_any", "skills_any")
    @classmethod
    def _lower(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(label.strip().lower() for label in value)  # labels are stored lower-case


class Schedule(_Frozen):
    """When ``nurture serve`` runs a tick of the campaign."""

    cron: str = Field(default="*/15 * * * *", description="Cron expression, e.g. '*/15 * * * *'.")
    timezone: str = Field(default="UTC", description="IANA zone the cron expression is read in.")

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        try:
            CronSim(value, datetime(2026, 1, 1, tzinfo=UTC))
        except (CronSimError, ValueError) as exc:
            raise ValueError(f"invalid cron expression {value!r}: {exc}") from exc
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_timezone(value)


class Limits(_Frozen):
    """Sending pace, protecting the sender's reputation."""

    per_day: int = Field(default=150, ge=1, description="Messages per day for this campaign.")
    per_hour: int = Field(default=40, ge=1, description="Messages per hour.")
    per_domain_per_day: int = Field(
        default=20, ge=1, description="Emails per recipient domain per day."
    )
    enroll_per_run: int = Field(default=500, ge=0, description="New enrollments per tick.")


class Campaign(_Frozen):
    """A sequence pointed at an audience, sent by a sender on a schedule."""

    campaign: str = Field(pattern=_ID, description="Campaign id, unique in the workspace.")
    sequence: str = Field(description="Id of a sequence of the workspace.")
    name: str | None = None
    sender: Sender
    audience: Audience = Field(
        default=Audience(),
        description="Who is enrolled; outbound sequences only (inbound: their trigger event).",
    )
    schedule: Schedule = Schedule()
    limits: Limits = Limits()
    allow_reenroll: bool = Field(
        default=False, description="Let a talent who finished this campaign enroll again."
    )
