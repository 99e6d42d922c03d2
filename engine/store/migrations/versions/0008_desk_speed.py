"""desk: indexes for the people search and the campaigns page

The people search matches words at the start of a first name, last name, email or company
(``engine.talents.edits.talent_query``), each through an index on the lower-cased column
(PostgreSQL's with ``text_pattern_ops``, so ``LIKE 'word%'`` uses them in any collation;
SQLite's unique index on the stored lower-case email serves that one already).
The funnel counts enrollments per campaign and kind (and step and variant), and finds the
entry of each one sent: in the order of these indexes, which hold every column read, so
SQLite counts as it reads instead of sorting. The per-day charts count a range of sends and
of replies per day, and a campaign's last activity is its newest row: one seek each.
A person's page reads their tasks by talent: that column had no index (a scan per page).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

from engine.store.dialect import prefix_index

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SEARCHED = {
    "ix_talents_first_name_prefix": "lower(first_name)",
    "ix_talents_last_name_prefix": "lower(last_name)",
    "ix_talents_company_prefix": "lower(company)",
}


TIMELINE = {
    "ix_engagements_funnel_steps": [
        "campaign", "kind", "step_id", "variant", "enrollment_id", "occurred_at",
    ],
    "ix_engagements_funnel_entries": ["campaign", "kind", "enrollment_id", "step_id"],
    "ix_engagements_campaign_kind_at": ["campaign", "kind", "occurred_at"],
    "ix_engagements_campaign_at": ["campaign", "occurred_at", "kind"],  # kind: no lookups
}  # fmt: skip


def upgrade() -> None:
    for name, columns in TIMELINE.items():
        op.create_index(name, "engagements", columns)
    op.create_index("ix_tasks_talent_id", "tasks", ["talent_id"])
    connection = op.get_bind()
    searched = dict(SEARCHED)
    if connection.dialect.name != "sqlite":
        searched["ix_talents_email_prefix"] = "email"
    for name, expression in searched.items():
        prefix_index(connection, name, "talents", expression)


def downgrade() -> None:
    op.drop_index("ix_tasks_talent_id", table_name="tasks")
    for name in TIMELINE:
        op.drop_index(name, table_name="engagements")
    for name in (*SEARCHED, "ix_talents_email_prefix"):
        op.execute(f"DROP INDEX IF EXISTS {name}")
