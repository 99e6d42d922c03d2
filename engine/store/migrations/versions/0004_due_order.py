"""outbox and enrollments: indexes in the order a tick takes due rows

The claim and the advance take due rows ``ORDER BY due_at, id ... LIMIT``. PostgreSQL's
indexes ended at ``due_at``, so each batch sorted every due row (a cost that grew with the
campaign); the enrollments' ``status IN ('pending', 'waiting')`` made SQLite sort too. With
``id`` in the outbox index and a partial index on the due enrollments, a batch reads only
its own rows.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DUE_STATUSES = "status IN ('pending', 'waiting')"


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_due")
        batch_op.create_index("ix_outbox_due", ["campaign", "status", "due_at", "id"], unique=False)
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_enrollments_due_order",
            ["campaign", "due_at", "id"],
            unique=False,
            sqlite_where=sa.text(DUE_STATUSES),
            postgresql_where=sa.text(DUE_STATUSES),
        )


def downgrade() -> None:
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.drop_index("ix_enrollments_due_order")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_due")
        batch_op.create_index("ix_outbox_due", ["campaign", "status", "due_at"], unique=False)
