"""llm: a provider key's own token prices, so unpriced models are never counted as free

Revision ID: 0019_llm_key_prices
Revises: 0018_import_upload_chunks
Create Date: 2026-12-06 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_llm_key_prices"
down_revision: str | Sequence[str] | None = "0018_import_upload_chunks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("llm_provider_keys") as batch_op:
        batch_op.add_column(sa.Column("prompt_micros_per_million", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("completion_micros_per_million", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("llm_provider_keys") as batch_op:
        batch_op.drop_column("completion_micros_per_million")
        batch_op.drop_column("prompt_micros_per_million")
