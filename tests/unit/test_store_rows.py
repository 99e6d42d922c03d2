"""``OutboxRow``: one frozen value for an outbox row, whichever way it was read."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Row, literal, select

from engine.store import dialect
from engine.store.models import OutboxMessage
from engine.store.rows import ENVELOPE, OutboxRow

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
VALUES: dict[str, Any] = {
    "id": 7, "message_id": "m7", "enrollment_id": 3, "talent_id": 5, "campaign": "c",
    "step_id": "intro", "pass_number": 1, "variant": None, "channel": "email",
    "to": "ada@example.com", "domain": "example.com", "sender": "jobs@acme.example",
    "sender_name": "Acme", "unsubscribe_url": None, "status": "sending", "due_at": AT,
    "claimed_at": AT, "lease_until": AT, "attempts": 1, "provider_message_id": None,
    "error": None, "sent_at": None, "created_at": AT, "subject": "Hi", "text": "Hello",
    "html": None, "headers": {"X-A": "1"},
}  # fmt: skip


def _core_row(names: list[str]) -> Row[Any]:
    """A row of these outbox columns as a Core statement reads it (types applied)."""
    columns = {column.name: column for column in OutboxMessage.__table__.c}
    engine = dialect.create("sqlite://")
    with engine.connect() as connection:
        query = select(*(literal(VALUES[n], columns[n].type).label(n) for n in names))
        return connection.execute(query).one()


def test_an_outbox_row_is_the_same_read_from_a_model_or_from_its_columns() -> None:
    from_model = OutboxRow.from_row(OutboxMessage(**VALUES))
    assert dataclasses.asdict(from_model) == VALUES
    envelope = OutboxRow.from_row(_core_row([column.name for column in ENVELOPE]))
    assert envelope == dataclasses.replace(
        from_model, subject=None, text=None, html=None, headers=None
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        envelope.status = "sent"  # type: ignore[misc]


def test_an_outbox_row_read_without_a_column_it_needs_fails_loudly() -> None:
    with pytest.raises(TypeError):
        OutboxRow.from_row(_core_row(["id", "message_id", "talent_id"]))


def test_the_envelope_is_every_column_but_the_content() -> None:
    names = {column.name for column in OutboxMessage.__table__.c}
    assert {field.name for field in dataclasses.fields(OutboxRow)} == names
    assert names - {column.name for column in ENVELOPE} == {"subject", "text", "html", "headers"}
