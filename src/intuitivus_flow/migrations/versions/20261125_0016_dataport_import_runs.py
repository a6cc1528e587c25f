"""dataport: import runs (queued imports and their progress)

Revision ID: 0016_dataport_import_runs
Revises: 0013_merge_domains
Create Date: 2026-11-25 00:29:28.736897
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import intuitivus_flow.kit.models

revision: str = "0016_dataport_import_runs"
down_revision: str | None = "0013_merge_domains"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "import_runs",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", _json(), nullable=False),
        sa.Column("created", _json(), nullable=False),
        sa.Column("skipped", _json(), nullable=False),
        sa.Column("errors", _json(), nullable=False),
        sa.Column("errors_total", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column(
            "started_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "finished_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "updated_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_import_runs_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_import_runs_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_runs")),
    )
    with op.batch_alter_table("import_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_import_runs_workspace_id_created_at", ["workspace_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("import_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_import_runs_workspace_id_created_at")

    op.drop_table("import_runs")
