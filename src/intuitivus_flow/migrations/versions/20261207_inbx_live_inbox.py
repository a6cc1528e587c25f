"""the live inbox (issue 17): conversations' assignee, last inbound time and attention
reason; per-member read marks (conversation_reads); the workspace's escalation settings

`last_inbound_at` is filled from each conversation's newest inbound message, so existing
conversations count as unread for every member until opened.

`assignee_user_id` has no foreign key: SQLite could only add one by copying `conversations`,
and dropping the original would cascade into every message (its reflection does not read a
REFERENCES clause added in place either). Assignment checks the member instead.

Revision ID: inbx_live_inbox
Revises: pwrs_password_reset_tokens
Create Date: 2026-12-07 06:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from intuitivus_flow.kit.models import UTCDateTime

revision: str = "inbx_live_inbox"
down_revision: str | Sequence[str] | None = "pwrs_password_reset_tokens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("conversations", sa.Column("assignee_user_id", sa.Uuid(), nullable=True))
    op.create_index(
        "ix_conversations_assignee_user_id", "conversations", ["assignee_user_id"], unique=False
    )
    op.add_column(
        "conversations", sa.Column("last_inbound_at", UTCDateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "conversations", sa.Column("attention_reason", sa.String(length=500), nullable=True)
    )
    op.add_column(
        "conversations", sa.Column("attention_at", UTCDateTime(timezone=True), nullable=True)
    )
    op.execute(
        "UPDATE conversations SET last_inbound_at = (SELECT max(m.created_at) "
        "FROM conversation_messages m WHERE m.conversation_id = conversations.id "
        "AND m.direction = 'in')"
    )
    for name in ("escalate_on_agent_failure", "hand_over_on_request"):
        op.add_column(
            "conversation_settings",
            sa.Column(name, sa.Boolean(), nullable=False, server_default=sa.true()),
        )
    op.create_table(
        "conversation_reads",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("read_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_reads_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_conversation_reads_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_conversation_reads_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_reads")),
        sa.UniqueConstraint("conversation_id", "user_id", name="uq_conversation_reads_member"),
    )
    op.create_index("ix_conversation_reads_user_id", "conversation_reads", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_conversation_reads_user_id", table_name="conversation_reads")
    op.drop_table("conversation_reads")
    with op.batch_alter_table("conversation_settings") as batch_op:
        batch_op.drop_column("hand_over_on_request")
        batch_op.drop_column("escalate_on_agent_failure")
    op.drop_index("ix_conversations_assignee_user_id", table_name="conversations")
    # Plain columns: SQLite (3.35+) drops them in place, without copying the table.
    for name in ("attention_at", "attention_reason", "last_inbound_at", "assignee_user_id"):
        op.drop_column("conversations", name)
