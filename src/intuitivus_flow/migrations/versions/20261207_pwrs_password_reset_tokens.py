"""auth: password-reset links, stored as the digests of their secrets (issue 17)

Revision ID: pwrs_password_reset_tokens
Revises: dbwl_inbox_index
Create Date: 2026-12-07 06:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intuitivus_flow.kit.models

revision: str = "pwrs_password_reset_tokens"
down_revision: str | Sequence[str] | None = "dbwl_inbox_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "password_reset_tokens",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "expires_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("used_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "revoked_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_password_reset_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_reset_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_password_reset_tokens_token_hash")),
    )
    op.create_index(op.f("ix_password_reset_tokens_user_id"), "password_reset_tokens", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_password_reset_tokens_user_id"), table_name="password_reset_tokens")
    op.drop_table("password_reset_tokens")
