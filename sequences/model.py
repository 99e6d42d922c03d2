"""Frozen models of a nurture sequence, the shape recruiters write in YAML.

Names here are user-facing YAML keys: never rename one once shipped.
Structural validation only; graph checks live in ``sequences.checks``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from functools import cached_property
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from sequences.suggest import did_you_mean
from sequences.zones import check_holiday_country, check_timezone

INTENTS = ("interested", "not_interested", "out_of_office", "unsubscribe", "question", "other")
BASE_EVENTS = ("replied", "opened", "clicked", "delivered", "bounced", "failed", "completed")
EVENTS = BASE_EVENTS + tuple(f"replied.{intent}" for intent in INTENTS)
STOP_EVENTS = (*EVENTS, "unsubscribed")

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Stage = Literal[
    "person",
    "prospect",
    "engaged",
    "candidate",
    "interviewing",
    "hired",
    "not_interested",
    "do_not_contact",
]
DurationUnit = Literal["minutes", "hours", "days", "business days", "weeks"]
WEEKDAYS: tuple[str, ...] = get_args(Weekday)
STAGES: tuple[str, ...] = get_args(Stage)

_DURATION = re.compile(
    r"^\s*(?P<amount>\d+)\s+(?P<unit>business\s+days?|minutes?|hours?|days?|weeks?)\s*$",
    re.IGNORECASE,
)
_ID = r"^[a-z0-9][a-z0-9_-]*$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


@dataclass(frozen=True)
class Duration:
    """``N minutes|hours|days|business days|weeks``; ``business days`` follow the send window."""

    amount: int
    unit: DurationUnit

    @classmethod
    def parse(cls, text: str) -> Duration:
        match = _DURATION.match(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(
                f"invalid duration {text!r}: expected 'N minutes|hours|days|business days|weeks'"
            )
        unit = " ".join(match["unit"].lower().split())
        unit = unit if unit.endswith("s") else unit + "s"
        return cls(int(match["amount"]), unit)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"{self.amount} {self.unit}"


def _to_duration(value: Any) -> Duration:
    return value if isinstance(value, Duration) else Duration.parse(value)


DURATION_PATTERN = r"^\s*\d+\s+(business\s+days?|minutes?|hours?|days?|weeks?)\s*$"
DurationField = Annotated[
    Duration,
    BeforeValidator(_to_duration),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "N minutes|hours|days|business days|weeks, e.g. '3 business days'",
        }
    ),
]


def _to_time(value: Any) -> Any:
    if isinstance(value, int):  # YAML 1.1 reads 09:00 unquoted as sexagesimal 540
        return time(value // 60, value % 60)
    if isinstance(value, str):
        if not re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
            raise ValueError(f"invalid time {value!r}: expected HH:MM")
        hours, minutes = (int(part) for part in value.strip().split(":"))
        return time(hours, minutes)  # raises ValueError when out of range
    return value


ClockTime = Annotated[
    time,
    BeforeValidator(_to_time),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d{1,2}:\d{2}$", "description": "HH:MM"}),
]


class SendWindow(_Frozen):
    """When messages may go out, in the talent's (or the default) time zone."""

    days: tuple[Weekday, ...] = Field(
        default=("mon", "tue", "wed", "thu", "fri"), description="Days messages may be sent."
    )
    from_: ClockTime = Field(default=time(9, 0), alias="from", description="Window start, HH:MM.")
    to: ClockTime = Field(default=time(17, 30), description="Window end, HH:MM (exclusive).")

    @model_validator(mode="after")
    def _ordered(self) -> SendWindow:
        if self.from_ >= self.to:
            raise ValueError("send_window 'from' must be before 'to'")
        if not self.days:
            raise ValueError("send_window needs at least one day")
        return self


class Settings(_Frozen):
    """How and when the sequence sends; waits are measured inside the send window."""

    timezone: str = Field(
        default="talent",
        description="'talent' to send in each talent's own zone, or an IANA zone for everyone.",
    )
    default_timezone: str = Field(
        default="UTC", description="IANA zone used for talents whose zone is unknown."
    )
    send_window: SendWindow = SendWindow()
    holidays: str | None = Field(
        default=None,
        description="ISO country, optionally with subdivision ('FR', 'DE-BE'): business days"
        " skip its public holidays.",
    )
    stop_on: tuple[str, ...] = Field(
        default=("replied", "unsubscribed", "bounced"),
        description="Events that end the enrollment from any step, unless the waiting step"
        " has its own branch for the event (the step's branches take precedence).",
    )

    @field_validator("timezone")
    @classmethod
    def _zone_or_talent(cls, value: str) -> str:
        return value if value == "talent" else check_timezone(value)

    @field_validator("default_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("holidays")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        return None if value is None else check_holiday_country(value)

    @field_validator("stop_on")
    @classmethod
    def _known_events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for event in value:
            if event not in STOP_EVENTS:
                hint = did_you_mean(event, STOP_EVENTS)
                raise ValueError(f"stop_on: unknown event {event!r}{hint}")
        return value


class Trigger(_Frozen):
    """What enrolls a talent in an inbound sequence: an event posted to ``/api/events``."""

    event: str = Field(
        pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$",
        description="Event name such as 'talent_community.joined'.",
    )


class TagChange(_Frozen):
    add: tuple[str, ...] = Field(default=(), description="Tags to add to the talent.")
    remove: tuple[str, ...] = Field(default=(), description="Tags to remove from the talent.")


class SetAction(_Frozen):
    """Changes to the talent when the branch is taken."""

    stage: Stage | None = Field(default=None, description="New lifecycle stage.")
    tags: TagChange | None = None


class _Branch(_Frozen):
    goto: str | None = Field(default=None, description="Id of the step to go to.")
    exit: str | None = Field(
        default=None, pattern=_ID, description="End the enrollment with this outcome name."
    )
    set: SetAction | None = None
    wait: DurationField | None = Field(
        default=None, description="Wait this long before the goto (needs 'goto')."
    )

    @model_validator(mode="after")
    def _one_target(self) -> _Branch:
        if self.goto is not None and self.exit is not None:
            raise ValueError("a branch takes either 'goto' or 'exit', not both")
        if self.wait is not None and self.goto is None:
            raise ValueError("'wait' needs a 'goto': where to go once the wait is over")
        return self


class EventBranch(_Branch):
    """``when: <event>``: taken when that event arrives while the step waits."""

    when: str

    @field_validator("when")
    @classmethod
    def _known_event(cls, value: str) -> str:
        if value not in EVENTS:
            raise ValueError(f"unknown event {value!r}{did_you_mean(value, EVENTS)}")
        return value


class TimeoutBranch(_Branch):
    """``after: <duration>``: taken when nothing else happened that long after the send."""

    after: DurationField


class NextBranch(_Branch):
    """No ``when``/``after``: taken as soon as the step is done."""


def _branch_tag(value: Any) -> str:
    if isinstance(value, dict):
        return "when" if "when" in value else "after" if "after" in value else "next"
    return "when" if hasattr(value, "when") else "after" if hasattr(value, "after") else "next"


Branch = Annotated[
    Annotated[EventBranch, Tag("when")]
    | Annotated[TimeoutBranch, Tag("after")]
    | Annotated[NextBranch, Tag("next")],
    Discriminator(_branch_tag),
]


class Variant(_Frozen):
    """One arm of an A/B split; each enrollment keeps the variant it was given."""

    id: str = Field(pattern=_ID)
    weight: int = Field(ge=0, description="Relative weight; 0 turns the variant off.")
    subject: str | None = Field(default=None, description="Overrides the step's subject.")
    body: str | None = Field(default=None, description="Overrides the step's body.")


class _Step(_Frozen):
    id: str = Field(pattern=_ID, description="Step id, unique in the sequence.")
    if_: str | None = Field(
        default=None,
        alias="if",
        description="Jinja expression guard, e.g. 'talent.phone': a false guard skips the step.",
    )
    on: tuple[Branch, ...] = Field(
        default=(),
        description="Ordered branches: 'when' an event, 'after' a duration, or neither (taken"
        " once the step is done). Without a neither-branch or an 'after', the step falls"
        " through to the next written step once done.",
    )


class _MessageStep(_Step):
    body: str = Field(
        description="Inline Jinja/Markdown text, or a workspace path such as templates/intro.md.j2."
    )
    variants: tuple[Variant, ...] = ()


class EmailStep(_MessageStep):
    channel: Literal["email"]
    subject: str | None = Field(
        default=None, description="Subject template; required unless the step has 'thread'."
    )
    thread: str | None = Field(
        default=None,
        description="Id of an earlier email step to reply in the thread of (Re: subject).",
    )


class SmsStep(_MessageStep):
    channel: Literal["sms"]


class WhatsappStep(_MessageStep):
    channel: Literal["whatsapp"]


class TaskStep(_Step):
    """A to-do for the recruiter (call, LinkedIn message); completing it fires ``completed``."""

    channel: Literal["task"]
    title: str = Field(description="Template of the to-do's title.")
    body: str | None = Field(default=None, description="Template of the to-do's details.")
    due: DurationField | None = Field(default=None, description="Due this long after creation.")


Step = Annotated[EmailStep | SmsStep | WhatsappStep | TaskStep, Field(discriminator="channel")]


class Sequence(_Frozen):
    """A nurture sequence: ordered steps, each sending a message or creating a task."""

    sequence: str = Field(pattern=_ID, description="Sequence id, unique in the workspace.")
    kind: Literal["outbound", "inbound"] = Field(
        default="outbound",
        description="outbound: campaigns enroll an audience; inbound: a trigger event enrolls.",
    )
    name: str | None = None
    description: str | None = None
    trigger: Trigger | None = Field(default=None, description="Inbound sequences only.")
    settings: Settings = Settings()
    steps: tuple[Step, ...] = Field(min_length=1)

    @cached_property
    def positions(self) -> dict[str, int]:
        """The index of each step id (the first, should an id be written twice)."""
        positions: dict[str, int] = {}
        for index, step in enumerate(self.steps):
            positions.setdefault(step.id, index)
        return positions

    def step(self, step_id: str) -> EmailStep | SmsStep | WhatsappStep | TaskStep:
        return self.steps[self.positions[step_id]]

    def next_step_id(self, step_id: str) -> str | None:
        """The step written after ``step_id``, where a step without exit falls through."""
        index = self.positions[step_id] + 1
        return self.steps[index].id if index < len(self.steps) else None
