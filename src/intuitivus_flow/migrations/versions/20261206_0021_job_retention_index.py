"""jobs: an index on (status, finished_at) for the retention prune's batched deletes

Revision ID: 0021_job_retention_index
Revises: 0019_llm_key_prices
Create Date: 2026-12-06 23:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021_job_retention_index"
down_revision: str | Sequence[str] | None = "0019_llm_key_prices"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Each batch finds its rows through this index instead of scanning the whole table.
    op.create_index("ix_jobs_status_finished_at", "jobs", ["status", "finished_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_status_finished_at", table_name="jobs")
