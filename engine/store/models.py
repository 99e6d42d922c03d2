"""The talent base: people (not candidates), their timeline, and the suppression list.

Schema changes go through Alembic (``engine/store/migrations``); never rename a stored name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.store.database import Base

CHANNELS = ("email", "sms", "whatsapp")


class Talent(Base):
    """A person in the talent base. Email is stored normalized (lower-case), phone as E.164."""

    __tablename__ = "talents"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    phone: Mapped[str | None] = mapped_column(String(32), unique=True)
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    timezone: Mapped[str | None] = mapped_column(String(64))
    country: Mapped[str | None] = mapped_column(String(2))
    city: Mapped[str | None] = mapped_column(String(200), index=True)
    company: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(200))
    links: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source: Mapped[str | None] = mapped_column(String(100), index=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stage: Mapped[str] = mapped_column(String(32), default="person", index=True)
    stage_changed_at: Mapped[datetime | None]
    recontact_after: Mapped[datetime | None]  # not_interested: may be contacted again after
    email_consent_at: Mapped[datetime | None]
    email_opted_out_at: Mapped[datetime | None]
    sms_consent_at: Mapped[datetime | None]
    sms_opted_out_at: Mapped[datetime | None]
    whatsapp_consent_at: Mapped[datetime | None]
    whatsapp_opted_out_at: Mapped[datetime | None]
    last_contacted_at: Mapped[datetime | None] = mapped_column(index=True)
    snoozed_until: Mapped[datetime | None]
    erased_at: Mapped[datetime | None]  # GDPR erasure: the row stays as an anonymous tombstone
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    labels: Mapped[list[TalentLabel]] = relationship(
        back_populates="talent", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def tags(self) -> list[str]:
        return sorted(label.value for label in self.labels if label.kind == "tag")

    @property
    def skills(self) -> list[str]:
        return sorted(label.value for label in self.labels if label.kind == "skill")

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    def opted_out(self, channel: str) -> bool:
        return getattr(self, f"{channel}_opted_out_at") is not None


class TalentLabel(Base):
    """A tag or a skill of a talent: one row each, so both filter in SQL with a B-tree index."""

    __tablename__ = "talent_labels"
    __table_args__ = (
        UniqueConstraint("talent_id", "kind", "value"),
        Index("ix_talent_labels_kind_value", "kind", "value", "talent_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    talent_id: Mapped[int] = mapped_column(ForeignKey("talents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # "tag" | "skill"
    value: Mapped[str] = mapped_column(String(100))

    talent: Mapped[Talent] = relationship(back_populates="labels")


class Engagement(Base):
    """One row of a talent's timeline: planned, sent, opened, replied, stage_changed, ...

    ``(provider, provider_event_id)`` is unique, so a replayed provider event is stored once.
    ``talent_id`` is empty for an event nobody could be matched to (never dropped).
    """

    __tablename__ = "engagements"
    __table_args__ = (
        UniqueConstraint("provider", "provider_event_id", name="uq_engagements_provider_event"),
        Index("ix_engagements_talent_at", "talent_id", "occurred_at"),
        Index("ix_engagements_campaign_kind", "campaign", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    talent_id: Mapped[int | None] = mapped_column(ForeignKey("talents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime]
    channel: Mapped[str | None] = mapped_column(String(16))
    campaign: Mapped[str | None] = mapped_column(String(100))
    enrollment_id: Mapped[int | None] = mapped_column(index=True)
    step_id: Mapped[str | None] = mapped_column(String(100))
    variant: Mapped[str | None] = mapped_column(String(100))
    message_id: Mapped[str | None] = mapped_column(String(64), index=True)
    provider: Mapped[str | None] = mapped_column(String(32))
    provider_event_id: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[str | None] = mapped_column(Text)  # human summary; erased with the person
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Suppression(Base):
    """An address never to contact again, kept only as a SHA-256 hash (GDPR erasure, bounces)."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    address_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(8))  # "email" | "phone"
    reason: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]


# --- The engine: sequence snapshots, enrollments, the outbox, tasks, campaign state ---------


class SequenceSnapshot(Base):
    """The exact sequence (and its templates) an enrollment started on, keyed by content hash."""

    __tablename__ = "sequence_snapshots"

    content_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    sequence: Mapped[str] = mapped_column(String(100), index=True)
    document: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime]


# Enrollments a tick advances. Spelled out (not bound parameters) wherever it is used, so
# that SQLite and PostgreSQL's generic plans can prove the partial index's predicate.
DUE_STATUSES = "status IN ('pending', 'waiting')"


class Enrollment(Base):
    """One talent in one campaign, pinned to a sequence snapshot.

    ``status``: ``pending`` (enter ``step_id`` at ``due_at``), ``sending`` (its outbox row is
    planned or claimed), ``waiting`` (at ``step_id`` for an event, a task, or the timeout at
    ``due_at``), ``error`` (a template failed for this talent at ``step_id``; never due until
    ``nurture migrate`` retries it), ``exited`` (``outcome`` says why). One active outbound
    enrollment per talent is a partial unique index, so two workers can never enroll the same
    person twice (an enrollment in ``error`` is still active: it holds the talent).
    """

    __tablename__ = "enrollments"
    __table_args__ = (
        Index("ix_enrollments_due", "campaign", "status", "due_at"),
        Index(  # due_enrollments: in (due_at, id) order, so a batch reads only its rows
            "ix_enrollments_due_order",
            "campaign",
            "due_at",
            "id",
            sqlite_where=text(DUE_STATUSES),
            postgresql_where=text(DUE_STATUSES),
        ),
        Index(
            "uq_enrollments_active_outbound",
            "talent_id",
            unique=True,
            sqlite_where=text("kind = 'outbound' AND status != 'exited'"),
            postgresql_where=text("kind = 'outbound' AND status != 'exited'"),
        ),
        Index("ix_enrollments_talent_campaign", "talent_id", "campaign"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    talent_id: Mapped[int] = mapped_column(ForeignKey("talents.id", ondelete="CASCADE"))
    campaign: Mapped[str] = mapped_column(String(100))
    sequence: Mapped[str] = mapped_column(String(100))
    content_hash: Mapped[str] = mapped_column(ForeignKey("sequence_snapshots.content_hash"))
    kind: Mapped[str] = mapped_column(String(8))  # "outbound" | "inbound"
    status: Mapped[str] = mapped_column(String(8))
    step_id: Mapped[str | None] = mapped_column(String(100))
    variant: Mapped[str | None] = mapped_column(String(100))
    due_at: Mapped[datetime | None]
    step_sent_at: Mapped[datetime | None]  # when the current step's message went out
    wait_goto: Mapped[str | None] = mapped_column(String(100))  # after a `wait`, go there
    outcome: Mapped[str | None] = mapped_column(String(100))
    entered_at: Mapped[datetime]
    exited_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


OutboxStatus = Literal["planned", "claimed", "sending", "sent", "failed", "in_doubt", "cancelled"]
OUTBOX_STATUSES: tuple[OutboxStatus, ...] = get_args(OutboxStatus)


class OutboxMessage(Base):
    """A planned message, rendered, written in the transaction that advanced its enrollment.

    ``status`` (:data:`OutboxStatus`): planned -> claimed -> sending -> sent | failed |
    in_doubt, or cancelled (see :mod:`engine.outbox.dispatch`). A claim carries a lease; a
    row still ``claimed`` when it expires was never attempted and goes back to ``planned``;
    a ``sending`` row becomes ``in_doubt`` and is never re-sent by itself.
    ``(enrollment_id, step_id, pass_number)`` is unique: a step is planned once per pass of
    the enrollment through it (a sequence may loop back to a step through a wait).
    """

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint(
            "enrollment_id", "step_id", "pass_number", name="uq_outbox_enrollment_step_pass"
        ),
        Index("ix_outbox_due", "campaign", "status", "due_at", "id"),  # claim order: no sort
        Index("ix_outbox_sender_window", "sender", "claimed_at", "status", "domain"),
        Index("ix_outbox_talent_claimed", "talent_id", "claimed_at"),
        Index("ix_outbox_status_lease", "status", "lease_until"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(32), unique=True)
    enrollment_id: Mapped[int] = mapped_column(ForeignKey("enrollments.id", ondelete="CASCADE"))
    talent_id: Mapped[int] = mapped_column(ForeignKey("talents.id", ondelete="CASCADE"))
    campaign: Mapped[str] = mapped_column(String(100))
    step_id: Mapped[str] = mapped_column(String(100))
    pass_number: Mapped[int] = mapped_column(default=1, server_default="1")
    variant: Mapped[str | None] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(16))
    to: Mapped[str] = mapped_column(String(320))
    domain: Mapped[str | None] = mapped_column(String(255))  # recipient domain (email)
    sender: Mapped[str] = mapped_column(String(320))
    sender_name: Mapped[str | None] = mapped_column(String(200))
    subject: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    unsubscribe_url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[OutboxStatus] = mapped_column(String(16))
    due_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    provider_message_id: Mapped[str | None] = mapped_column(String(200), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Task(Base):
    """A to-do for the recruiter: a task step (call, LinkedIn message) or a reply follow-up."""

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    talent_id: Mapped[int | None] = mapped_column(ForeignKey("talents.id", ondelete="CASCADE"))
    enrollment_id: Mapped[int | None] = mapped_column(index=True)
    campaign: Mapped[str | None] = mapped_column(String(100))
    step_id: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None] = mapped_column(index=True)


class CampaignState(Base):
    """Run state of a campaign: paused (with the reason) when its channel is misconfigured."""

    __tablename__ = "campaign_state"

    campaign: Mapped[str] = mapped_column(String(100), primary_key=True)
    paused: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


# --- The recruiter's desk: accounts and sign-in sessions -------------------------------------


class DeskUser(Base):
    """A recruiter who signs in to the desk (``nurture users add``); Argon2id password hash."""

    __tablename__ = "desk_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]


class DeskSession(Base):
    """A signed-in browser: the SHA-256 of its cookie's token, its CSRF token, its expiry."""

    __tablename__ = "desk_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("desk_users.id", ondelete="CASCADE"))
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
