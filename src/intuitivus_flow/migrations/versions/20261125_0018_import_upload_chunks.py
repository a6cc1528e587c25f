"""dataport: uploads of queued imports in the database; joins the heads 0014, 0015 and 0016

Web and worker pods share the database, not a volume, so the upload is stored in chunks
(`import_upload_chunks`) instead of a file under the data dir. The revision also merges the
campaign, billing and dataport branches into one head.

Revision ID: 0018_import_upload_chunks
Revises: 0014_campaign_daily_budget, 0015_billing_operations, 0016_dataport_import_runs
Create Date: 2026-11-25 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_import_upload_chunks"
down_revision: str | Sequence[str] | None = (
    "0014_campaign_daily_budget",
    "0015_billing_operations",
    "0016_dataport_import_runs",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "import_upload_chunks",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["import_runs.id"],
            name=op.f("fk_import_upload_chunks_run_id_import_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "seq", name=op.f("pk_import_upload_chunks")),
    )


def downgrade() -> None:
    # Imports still waiting for a worker lose their upload with the table.
    op.drop_table("import_upload_chunks")
