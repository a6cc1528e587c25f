"""forecasting: the incremental detector state per model (forecast_detector_streams)

Revision ID: dstr_detector_streams
Revises: dbix_advisor_indexes
Create Date: 2026-12-07 03:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intuitivus_flow.kit.models

revision: str = "dstr_detector_streams"
down_revision: str | Sequence[str] | None = "dbix_advisor_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "forecast_detector_streams",
        sa.Column("model_id", sa.Uuid(), nullable=False),
        sa.Column("detector_version", sa.String(length=32), nullable=False),
        sa.Column(
            "history_start", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "last_step", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("last_score", sa.Float(), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column(
            "updated_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["forecast_models.id"],
            name=op.f("fk_forecast_detector_streams_model_id_forecast_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecast_detector_streams")),
        sa.UniqueConstraint("model_id", name=op.f("uq_forecast_detector_streams_model_id")),
    )


def downgrade() -> None:
    op.drop_table("forecast_detector_streams")
