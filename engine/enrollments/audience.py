"""An audience compiled to one SQL select of talent ids; nothing is filtered in Python.

Tags and skills are rows of ``talent_labels`` (kind, value), matched through the
``(kind, value, talent_id)`` index; custom attributes compare on the JSON column
(:class:`engine.store.dialect.json_equals`). Erased and snoozed talents are never selected;
``not_interested`` talents only once their re-contact date has passed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select

from campaigns.model import Audience
from engine.store.dialect import json_equals
from engine.store.models import Talent, TalentLabel
from sequences.model import Duration

_UNITS = {"minutes": 1, "hours": 60, "days": 1440, "weeks": 10080}


def audience_select(audience: Audience, now: datetime) -> Select[tuple[int]]:
    """``SELECT talents.id`` of every talent ``audience`` describes at ``now``."""
    conditions = [
        Talent.erased_at.is_(None),
        or_(Talent.snoozed_until.is_(None), Talent.snoozed_until <= now),
        Talent.stage.in_(audience.stage),
        or_(
            Talent.stage != "not_interested",
            Talent.recontact_after.is_(None),
            Talent.recontact_after <= now,
        ),
        *_labels(audience),
        *_attributes(audience.attributes),
        *_optional(audience, now),
    ]
    return select(Talent.id).where(and_(*conditions))


def _optional(audience: Audience, now: datetime) -> list[ColumnElement[bool]]:
    conditions = []
    if audience.location:
        place = audience.location.strip().lower()
        city, country = func.lower(Talent.city), func.lower(Talent.country)
        conditions.append(or_(city == place, country == place))
    if audience.source:
        conditions.append(func.lower(Talent.source) == audience.source.strip().lower())
    if audience.not_contacted_for is not None:
        since = now - _timedelta(audience.not_contacted_for)
        last = Talent.last_contacted_at
        conditions.append(or_(last.is_(None), last <= since))
    if audience.created_after is not None:
        conditions.append(Talent.created_at >= _start_of(audience.created_after))
    return conditions


def _has_label(kind: str, values: tuple[str, ...]) -> ColumnElement[bool]:
    return exists().where(
        TalentLabel.talent_id == Talent.id,
        TalentLabel.kind == kind,
        TalentLabel.value.in_(values),
    )


def _labels(audience: Audience) -> list[ColumnElement[bool]]:
    conditions = [_has_label("tag", (tag,)) for tag in dict.fromkeys(audience.tags_all)]
    if audience.tags_any:
        conditions.append(_has_label("tag", audience.tags_any))
    if audience.skills_any:
        conditions.append(_has_label("skill", audience.skills_any))
    return conditions


def _attributes(expected: dict[str, Any]) -> list[ColumnElement[bool]]:
    return [json_equals(Talent.attributes, key, value) for key, value in expected.items()]


def _timedelta(duration: Duration) -> timedelta:
    if duration.unit not in _UNITS:  # rejected by Audience; kept strict here too
        raise ValueError(f"{duration} cannot be compared in SQL")
    return timedelta(minutes=duration.amount * _UNITS[duration.unit])


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


__all__ = ["audience_select"]
