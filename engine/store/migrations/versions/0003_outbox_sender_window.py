"""outbox: one covering index for a sender's sending limits

The claim reads a sender's hour, day and per-domain day windows in one scan of its recent
touches; with status and domain in the index that scan never reads the table.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_sender_window", ["sender", "claimed_at", "status", "domain"], unique=False
        )
        batch_op.drop_index("ix_outbox_sender_claimed")


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_sender_claimed", ["sender", "claimed_at"], unique=False)
        batch_op.drop_index("ix_outbox_sender_window")
