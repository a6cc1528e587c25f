"""analytics: KPI goals (a target change against a baseline period, issue 15)

Revision ID: kpig_kpi_goals
Revises: 0022_campaign_step_ids
Create Date: 2026-12-07 02:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intuitivus_flow.kit.models

revision: str = "kpig_kpi_goals"
down_revision: str | Sequence[str] | None = "0022_campaign_step_ids"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kpi_goals",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("kpi", sa.String(length=40), nullable=False),
        sa.Column("target_change_percent", sa.Float(), nullable=False),
        sa.Column("baseline_start", sa.Date(), nullable=False),
        sa.Column("baseline_end", sa.Date(), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column(
            "last_checked_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("dropping", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_kpi_goals_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_kpi_goals_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_goals")),
    )
    op.create_index("ix_kpi_goals_workspace_id_kpi", "kpi_goals", ["workspace_id", "kpi"])


def downgrade() -> None:
    op.drop_index("ix_kpi_goals_workspace_id_kpi", table_name="kpi_goals")
    op.drop_table("kpi_goals")
