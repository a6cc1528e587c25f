"""contacts: e-mail consent next to WhatsApp's, and the consent trail (contact_consent_changes)

Every contact starts with e-mail consent `unknown`, which is not consent for e-mail marketing
(docs/contacts.md). The columns are added in place (ALTER TABLE ... ADD COLUMN on both
engines): a SQLite batch copy of `contacts` would drop the table, and the drop would cascade
into tags, conversations and messages.

Revision ID: cnst_contact_consent
Revises: inbx_live_inbox
Create Date: 2026-12-07 06:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intuitivus_flow.kit.models

revision: str = "cnst_contact_consent"
down_revision: str | Sequence[str] | None = "inbx_live_inbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "contacts",
        sa.Column("email_opt_in", sa.String(length=16), nullable=False, server_default="unknown"),
    )
    op.add_column(
        "contacts",
        sa.Column(
            "email_opt_in_changed_at",
            intuitivus_flow.kit.models.UTCDateTime(timezone=True),
            nullable=True,
        ),
    )
    op.create_table(
        "contact_consent_changes",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("previous", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_consent_changes_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_contact_consent_changes_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_consent_changes")),
    )
    op.create_index(
        "ix_contact_consent_changes_contact_id_created_at",
        "contact_consent_changes",
        ["contact_id", "created_at"],
    )


def downgrade() -> None:
    op.drop_index(
        "ix_contact_consent_changes_contact_id_created_at", table_name="contact_consent_changes"
    )
    op.drop_table("contact_consent_changes")
    # In place on SQLite too (3.35+ drops columns): a batch copy would cascade, as above.
    op.drop_column("contacts", "email_opt_in_changed_at")
    op.drop_column("contacts", "email_opt_in")
