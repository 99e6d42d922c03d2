"""The funnel of each campaign, per step and per variant, counted from the timeline.

    enrolled      entered the campaign (its first step)
    sent          our own ``sent`` rows (SendGrid's ``processed`` is not counted again)
    delivered, opened, clicked, replied, bounced
    interested    replies classified ``interested``
    converted     became a candidate; credited to the step last sent before the change
    unsubscribed  opted out (STOP, link, provider unsubscribe, spam report) or replied so

Every figure counts distinct enrollments, so a person opening an email five times is one
open. Rates are per message sent (``converted`` of the whole campaign: per enrollment).
Beside the funnel, :func:`errors` counts the enrollments parked in ``error`` now (a
template failed for that talent) per campaign and step, with the first few to look at.
Counting happens in SQL, grouped, in a few passes that read indexes in order (0008); the rows
stay on the database side.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from engine.store.models import Engagement, Enrollment, Talent

METRICS = (
    "enrolled",
    "sent",
    "delivered",
    "opened",
    "clicked",
    "replied",
    "interested",
    "converted",
    "bounced",
    "unsubscribed",
)
# The words the report's table is headed with ("converted" is to candidate).
LABELS = {**{metric: metric for metric in METRICS}, "converted": "candidates"}
ALL = "*"  # the step/variant of a campaign's total row
_KINDS = {
    "enrolled": "entered",
    "sent": "sent",
    "delivered": "delivered",
    "opened": "opened",
    "clicked": "clicked",
    "replied": "replied",
    "bounced": "bounced",
}
_OPT_OUTS = ("opted_out", "unsubscribed", "spam_report")
_METRIC_OF = {kind: metric for metric, kind in _KINDS.items()}


@dataclass(frozen=True)
class FunnelRow:
    """One line of the report: a campaign's total (step and variant ``*``), or one step."""

    campaign: str
    step: str
    variant: str
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, metric: str) -> int:
        return self.counts.get(metric, 0)

    def rate(self, metric: str) -> float | None:
        """``metric`` per message sent; ``converted`` per enrollment on a total row."""
        if metric in ("enrolled", "sent"):
            return None
        per = "enrolled" if metric == "converted" and self.step == ALL else "sent"
        whole = self.count(per)
        return round(self.count(metric) / whole, 4) if whole else None

    def as_dict(self) -> dict[str, Any]:
        rates = {
            metric: self.rate(metric) for metric in METRICS if metric not in ("enrolled", "sent")
        }
        return {
            "campaign": self.campaign,
            "step": self.step,
            "variant": self.variant,
            **{metric: self.count(metric) for metric in METRICS},
            "rates": rates,
        }


def _metric_filter(metric: str) -> ColumnElement[bool]:
    intent = Engagement.data["intent"].as_string()
    if metric == "interested":
        return and_(Engagement.kind == "replied", intent == "interested")
    if metric == "unsubscribed":
        return or_(
            Engagement.kind.in_(_OPT_OUTS),
            and_(Engagement.kind == "replied", intent == "unsubscribe"),
        )
    assert metric == "converted"
    return and_(
        Engagement.kind == "stage_changed", Engagement.data["to"].as_string() == "candidate"
    )


def _of(query: Select[Any], campaigns: Sequence[str] | None) -> Select[Any]:
    """The rows of enrollments, of these campaigns (None: of every campaign). Naming them
    lets a pass over a few kinds seek each campaign's rows of those kinds in an index."""
    query = query.where(Engagement.campaign.is_not(None), Engagement.enrollment_id.is_not(None))
    return query if campaigns is None else query.where(Engagement.campaign.in_(campaigns))


_Line = tuple[tuple[str, str, str], dict[str, int]]  # (campaign, step, variant), counts
_Kind = tuple[tuple[str, str, str], str, int, Any]  # (campaign, step, variant), kind, count, at


def _per_kind(session: Session, campaigns: Sequence[str] | None, steps: bool) -> Iterable[_Kind]:
    """Enrollments per kind, per campaign (``steps``: per step and variant, with when each
    was first reached). Grouped in the order of an index (0008): SQLite counts as it reads."""
    by = [Engagement.step_id, Engagement.variant] if steps else []
    query = select(Engagement.campaign, Engagement.kind, *by,
                   func.count(func.distinct(Engagement.enrollment_id)),
                   func.min(Engagement.occurred_at))  # fmt: skip
    query = _of(query, campaigns).group_by(Engagement.campaign, Engagement.kind, *by)
    for name, kind, *rest, count, first in session.execute(query):
        if not steps:
            yield (name, ALL, ALL), kind, int(count), None
        else:
            reached = first if rest[0] is not None else None  # a step's first engagement
            yield (name, rest[0] or "", rest[1] or ""), kind, int(count), reached


def _by_data(session: Session, campaigns: Sequence[str], steps: bool) -> Iterable[_Line]:
    """The metrics read in a row's data (an intent, a stage): a pass over those few kinds."""
    metrics = (
        ("interested", "unsubscribed") if steps else ("interested", "unsubscribed", "converted")
    )
    by = (
        [func.coalesce(Engagement.step_id, ""), func.coalesce(Engagement.variant, "")]
        if steps
        else []
    )
    counted = (
        func.count(func.distinct(case((_metric_filter(metric), Engagement.enrollment_id))))
        for metric in metrics
    )
    kinds = Engagement.kind.in_(("replied", "stage_changed", *_OPT_OUTS))
    query = _of(select(Engagement.campaign, *by, *counted).where(kinds), campaigns)
    for name, *rest in session.execute(query.group_by(Engagement.campaign, *by)):
        step, variant = (rest[0], rest[1]) if steps else (ALL, ALL)
        yield (
            (name, step, variant),
            dict(zip(metrics, map(int, rest[-len(metrics) :]), strict=True)),
        )


def _enrolled(
    session: Session, campaigns: Sequence[str], entered: dict[tuple[str, str], int]
) -> Iterable[_Line]:
    """Enrollments per step they entered and the variant they were sent there: a step's
    variant is fixed per person (``choose_variant``), so any send of theirs there tells it;
    those with none (not sent yet, or no variants) count under no variant."""
    entry = aliased(Engagement)
    there = select(entry.id).where(
        entry.campaign == Engagement.campaign, entry.kind == "entered",
        entry.enrollment_id == Engagement.enrollment_id, entry.step_id == Engagement.step_id,
    )  # fmt: skip
    query = select(Engagement.campaign, Engagement.step_id, Engagement.variant,
                   func.count(func.distinct(Engagement.enrollment_id)))  # fmt: skip
    query = query.where(Engagement.kind == "sent", Engagement.variant.is_not(None), there.exists())
    query = _of(query, campaigns).group_by(
        Engagement.campaign, Engagement.step_id, Engagement.variant
    )
    left = dict(entered)
    for name, step, variant, count in session.execute(query):
        left[(name, step)] -= int(count)
        yield (name, step, variant), {"enrolled": int(count)}
    for (name, step), count in left.items():  # below 0 only if a step's variant changed
        yield (name, step, ""), {"enrolled": max(count, 0)}


def _converted(session: Session, campaigns: Sequence[str]) -> Iterable[_Line]:
    """Conversions, each credited to the step (and variant) last sent before it."""
    sent = aliased(Engagement)
    last = select(sent).where(
        sent.enrollment_id == Engagement.enrollment_id, sent.kind == "sent",
        sent.occurred_at <= Engagement.occurred_at,
    ).order_by(sent.occurred_at.desc(), sent.id.desc()).limit(1)  # fmt: skip
    step = func.coalesce(last.with_only_columns(sent.step_id).scalar_subquery(), "")
    variant = func.coalesce(last.with_only_columns(sent.variant).scalar_subquery(), "")
    query = select(Engagement.campaign, step.label("funnel_step"), variant.label("funnel_variant"),
                   func.count(func.distinct(Engagement.enrollment_id)))  # fmt: skip
    query = _of(query.where(_metric_filter("converted")), campaigns)
    query = query.group_by(Engagement.campaign, "funnel_step", "funnel_variant")
    for name, step_id, variant_id, count in session.execute(query):
        yield (name, step_id, variant_id), {"converted": int(count)}


def funnel(session: Session, campaign: str | None = None) -> list[FunnelRow]:
    """Every campaign's total row, then its rows per step and variant, in the order people
    first reached the steps. Six grouped queries, whatever the size of the timeline."""
    table: dict[tuple[str, str, str], dict[str, int]] = {}
    entered: dict[tuple[str, str], int] = {}
    order: dict[tuple[str, str], Any] = {}
    totals = list(_per_kind(session, None if campaign is None else [campaign], False))
    names = sorted({key[0] for key, *_ in totals})  # every campaign with a row
    for key, kind, count, first in chain(totals, _per_kind(session, names, True)):
        if kind == "entered" and key[1] != ALL:  # credited to a variant by _enrolled
            entered[key[:2]] = entered.get(key[:2], 0) + count
        elif kind in _METRIC_OF:
            table.setdefault(key, {})[_METRIC_OF[kind]] = count
        if first is not None and (key[:2] not in order or first < order[key[:2]]):
            order[key[:2]] = first
    passes = (
        _by_data(session, names, False), _by_data(session, names, True),
        _enrolled(session, names, entered), _converted(session, names),
    )  # fmt: skip
    for key, counts in chain(*passes):
        found = {metric: count for metric, count in counts.items() if count}
        if found:
            table.setdefault(key, {}).update(found)
    rows = [FunnelRow(c, s, v, counts) for (c, s, v), counts in table.items()]
    return sorted(rows, key=lambda r: _sort_key(r, order))


def _sort_key(row: FunnelRow, order: dict[tuple[str, str], Any]) -> tuple[Any, ...]:
    first = order.get((row.campaign, row.step))
    return (row.campaign, row.step != ALL, first is None, first or 0, row.step, row.variant)


def campaigns_in(rows: Sequence[FunnelRow]) -> list[str]:
    return sorted({row.campaign for row in rows})


@dataclass(frozen=True)
class StepErrors:
    """Enrollments of one campaign step in ``error``: how many, and the first few."""

    campaign: str
    step: str
    count: int
    examples: list[tuple[str, str]] = field(default_factory=list)  # (talent, error)


def errors(session: Session, campaign: str | None = None, examples: int = 5) -> list[StepErrors]:
    """The enrollments in ``error`` per campaign and step, each with its talent's error."""
    counts = select(Enrollment.campaign, Enrollment.step_id, func.count()).where(
        Enrollment.status == "error"
    )
    if campaign is not None:
        counts = counts.where(Enrollment.campaign == campaign)
    grouped = session.execute(counts.group_by(Enrollment.campaign, Enrollment.step_id))
    found = [StepErrors(c, s or "", int(n)) for c, s, n in grouped]
    for item in sorted(found, key=lambda e: (e.campaign, e.step)):
        item.examples.extend(_examples(session, item.campaign, item.step, examples))
    return sorted(found, key=lambda e: (e.campaign, e.step))


def _examples(session: Session, campaign: str, step: str, limit: int) -> list[tuple[str, str]]:
    last_error = (
        select(Engagement.detail)
        .where(Engagement.enrollment_id == Enrollment.id, Engagement.kind == "error")
        .order_by(Engagement.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    query = (
        select(func.coalesce(Talent.email, Talent.phone, ""), last_error)
        .select_from(Enrollment)
        .join(Talent, Talent.id == Enrollment.talent_id)
        .where(Enrollment.campaign == campaign, Enrollment.step_id == step)
        .where(Enrollment.status == "error")
        .order_by(Enrollment.id)
        .limit(limit)
    )
    return [(who, detail or "") for who, detail in session.execute(query)]
