"""outbox: a pass number per step, so a sequence may loop through a wait

A loop such as ``{after: 30 days, goto: newsletter}`` plans the same step again on each
pass. ``(enrollment_id, step_id)`` was unique, so the second pass could not be planned;
``(enrollment_id, step_id, pass_number)`` keeps one planned message per pass (a duplicate
of the same pass is still refused by the database).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("pass_number", sa.Integer(), nullable=False, server_default="1")
        )
        batch_op.drop_constraint("uq_outbox_enrollment_step", type_="unique")
        batch_op.create_unique_constraint(
            "uq_outbox_enrollment_step_pass", ["enrollment_id", "step_id", "pass_number"]
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_constraint("uq_outbox_enrollment_step_pass", type_="unique")
        batch_op.create_unique_constraint("uq_outbox_enrollment_step", ["enrollment_id", "step_id"])
        batch_op.drop_column("pass_number")
