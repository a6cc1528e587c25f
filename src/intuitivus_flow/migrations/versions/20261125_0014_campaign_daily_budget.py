"""campaigns: why the system paused a campaign, and when a daily-budget pause ends

Existing campaigns get no reason: a campaign already paused at its total budget stays paused
until a person activates it, exactly as before.

Revision ID: 0014_campaign_daily_budget
Revises: 0013_merge_domains
Create Date: 2026-11-25 00:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intuitivus_flow.kit.models

revision: str = "0014_campaign_daily_budget"
down_revision: str | Sequence[str] | None = "0013_merge_domains"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pause_reason", sa.String(length=20), nullable=True))
        batch_op.add_column(
            sa.Column(
                "resume_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.create_index("ix_campaigns_resume_at", ["resume_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index("ix_campaigns_resume_at")
        batch_op.drop_column("resume_at")
        batch_op.drop_column("pause_reason")
