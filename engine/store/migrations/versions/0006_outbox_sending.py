"""outbox: ``sending`` marks the rows whose request may have started

Before, a claimed row was attempted at some point of its batch, so a ``claimed`` row whose
lease expired became ``in_doubt``. Now a row is marked ``sending`` right before its request
starts, and a row still ``claimed`` when its lease expires goes back to the queue. A row
claimed by the previous version may have been attempted: it becomes ``sending``, so that it
is never sent twice. No schema change: ``status`` is a string.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE outbox SET status = 'sending' WHERE status = 'claimed'")


def downgrade() -> None:
    op.execute("UPDATE outbox SET status = 'claimed' WHERE status = 'sending'")
