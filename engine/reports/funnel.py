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
Counting happens in SQL, grouped; the rows stay on the database side.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal, or_, select
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
    if metric in _KINDS:
        return Engagement.kind == _KINDS[metric]
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


def _step_and_variant(metric: str) -> tuple[Any, Any]:
    """The step and variant an engagement counts for.

    Most engagements carry both. A conversion counts for the step (and variant) last sent
    before it; an enrollment (``entered``) for the variant its first step was sent in.
    """
    if metric not in ("converted", "enrolled"):
        return Engagement.step_id, Engagement.variant
    sent = aliased(Engagement)
    query = select(sent).where(sent.enrollment_id == Engagement.enrollment_id, sent.kind == "sent")
    if metric == "enrolled":
        first = query.where(sent.step_id == Engagement.step_id).order_by(sent.id).limit(1)
        return Engagement.step_id, first.with_only_columns(sent.variant).scalar_subquery()
    last = query.where(sent.occurred_at <= Engagement.occurred_at)
    last = last.order_by(sent.occurred_at.desc(), sent.id.desc()).limit(1)
    return (
        last.with_only_columns(sent.step_id).scalar_subquery(),
        last.with_only_columns(sent.variant).scalar_subquery(),
    )


def _counts(session: Session, metric: str, campaign: str | None, total: bool) -> Iterable[Any]:
    step_column, variant_column = _step_and_variant(metric)
    step = literal(ALL) if total else func.coalesce(step_column, "")
    variant = literal(ALL) if total else func.coalesce(variant_column, "")
    query = (
        select(
            Engagement.campaign,
            step.label("funnel_step"),
            variant.label("funnel_variant"),
            func.count(func.distinct(Engagement.enrollment_id)),
        )
        .where(_metric_filter(metric), Engagement.campaign.is_not(None))
        .where(Engagement.enrollment_id.is_not(None))
        .group_by(Engagement.campaign, "funnel_step", "funnel_variant")
    )
    if campaign is not None:
        query = query.where(Engagement.campaign == campaign)
    return session.execute(query)


def _step_order(session: Session, campaign: str | None) -> dict[tuple[str, str], Any]:
    """When each step was first reached: steps are listed in the order people met them."""
    query = select(Engagement.campaign, Engagement.step_id, func.min(Engagement.occurred_at))
    query = query.where(Engagement.step_id.is_not(None), Engagement.enrollment_id.is_not(None))
    if campaign is not None:
        query = query.where(Engagement.campaign == campaign)
    rows = session.execute(query.group_by(Engagement.campaign, Engagement.step_id))
    return {(c, s): at for c, s, at in rows}


def funnel(session: Session, campaign: str | None = None) -> list[FunnelRow]:
    """Every campaign's total row, then its rows per step and variant."""
    table: dict[tuple[str, str, str], dict[str, int]] = {}
    for metric in METRICS:
        for total in (True, False):
            for name, step, variant, count in _counts(session, metric, campaign, total):
                table.setdefault((name, step, variant), {})[metric] = int(count)
    order = _step_order(session, campaign)
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
