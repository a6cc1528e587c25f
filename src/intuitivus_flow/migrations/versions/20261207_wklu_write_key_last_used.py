"""analytics: when each write key was last used (issue 15, the Settings page lists it)

Existing keys start with no date: their use before this revision was not recorded.

Revision ID: wklu_write_key_last_used
Revises: trgm_contact_search
Create Date: 2026-12-07 12:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intuitivus_flow.kit.models

revision: str = "wklu_write_key_last_used"
down_revision: str | Sequence[str] | None = "trgm_contact_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "analytics_write_keys",
        sa.Column(
            "last_used_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=True
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("analytics_write_keys") as batch_op:
        batch_op.drop_column("last_used_at")
