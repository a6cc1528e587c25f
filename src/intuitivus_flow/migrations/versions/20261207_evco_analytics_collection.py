"""analytics: the collection API's write keys, collected events and identities (issue 15)

Revision ID: evco_analytics_collection
Revises: kpig_kpi_goals
Create Date: 2026-12-07 02:30:19.794424
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import intuitivus_flow.kit.models

revision: str = "evco_analytics_collection"
down_revision: str | None = "kpig_kpi_goals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "analytics_events",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("event", sa.String(length=200), nullable=False),
        sa.Column("person_id", sa.String(length=200), nullable=False),
        sa.Column("anonymous_id", sa.String(length=200), nullable=True),
        sa.Column("user_id", sa.String(length=200), nullable=True),
        sa.Column(
            "timestamp", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "received_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_analytics_events_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_events")),
        sa.UniqueConstraint(
            "workspace_id", "message_id", name=op.f("uq_analytics_events_workspace_id")
        ),
    )
    with op.batch_alter_table("analytics_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_analytics_events_received_at_id", ["received_at", "id"], unique=False
        )

    op.create_table(
        "analytics_identities",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("distinct_id", sa.String(length=200), nullable=False),
        sa.Column("person_id", sa.String(length=200), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column(
            "updated_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_analytics_identities_contact_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_analytics_identities_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id", "distinct_id", name=op.f("pk_analytics_identities")
        ),
    )
    op.create_table(
        "analytics_write_keys",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("key_digest", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("allowed_origins", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column(
            "revoked_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_analytics_write_keys_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_analytics_write_keys_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_write_keys")),
        sa.UniqueConstraint("key_digest", name=op.f("uq_analytics_write_keys_key_digest")),
    )
    with op.batch_alter_table("analytics_write_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_analytics_write_keys_workspace_id"), ["workspace_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("analytics_write_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_analytics_write_keys_workspace_id"))

    op.drop_table("analytics_write_keys")
    op.drop_table("analytics_identities")
    with op.batch_alter_table("analytics_events", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_events_received_at_id")

    op.drop_table("analytics_events")
