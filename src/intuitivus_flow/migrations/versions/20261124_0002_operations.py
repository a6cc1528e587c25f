"""operations: metric history, alert state and history, silences, notifications, leases

Revision ID: 0002_operations
Revises: 0001_foundation
Create Date: 2026-11-24 21:38:55.418142

The `metrics` table is written by hand: on PostgreSQL it is a partitioned parent
(PARTITION BY RANGE (time)) with one partition per UTC month, which autogenerate cannot
produce. This revision creates the partitions of the current and the next month; the
maintenance loop (metrics_history.service.maintain) keeps creating upcoming ones and drops those
older than FLOW_METRICS_RETENTION_DAYS. The partition bounds are computed here rather than
imported, so the revision keeps doing the same thing whatever the application code becomes.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import intuitivus_flow.kit.models

revision: str = "0002_operations"
down_revision: str | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INITIAL_MONTHS = 2  # the current month and the next


def _month(index: int) -> datetime:
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def _create_metrics() -> None:
    op.create_table(
        "metrics",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("time", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("instance", sa.String(length=128), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", "time", "instance", name=op.f("pk_metrics")),
        # Rendered on PostgreSQL only; SQLite gets a plain table.
        postgresql_partition_by="RANGE (time)",
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    now = datetime.now(UTC)
    first = now.year * 12 + now.month - 1
    for index in range(first, first + INITIAL_MONTHS):
        start, end = _month(index), _month(index + 1)
        op.execute(
            f'CREATE TABLE IF NOT EXISTS "metrics_{start.year:04d}_{start.month:02d}" '
            f"PARTITION OF metrics FOR VALUES FROM ('{start.isoformat()}') "
            f"TO ('{end.isoformat()}')"
        )


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column(
            "acquired_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "expires_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    _create_metrics()
    op.create_table(
        "notification_deliveries",
        sa.Column("group_key", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("target_key", sa.String(length=32), nullable=False),
        sa.Column("target_label", sa.String(length=200), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "delivered_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_deliveries")),
    )
    with op.batch_alter_table("notification_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notification_deliveries_state_due", ["state", "next_attempt_at"], unique=False
        )

    op.create_table(
        "silences",
        sa.Column(
            "matchers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "starts_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("ends_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("comment", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("expired_by", sa.String(length=200), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_silences")),
    )
    with op.batch_alter_table("silences", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_silences_ends_at"), ["ends_at"], unique=False)

    op.create_table(
        "alerts",
        sa.Column("fingerprint", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column(
            "labels",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "annotations",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column(
            "active_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("fired_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "resolved_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "last_true_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "evaluated_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("silenced_by", sa.Uuid(), nullable=True),
        sa.Column("inhibited_by", sa.String(length=128), nullable=True),
        sa.Column("notified_state", sa.String(length=16), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["silenced_by"],
            ["silences.id"],
            name=op.f("fk_alerts_silenced_by_silences"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_alerts_fingerprint")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_state"), ["state"], unique=False)

    op.create_table(
        "notification_attempts",
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["notification_deliveries.id"],
            name=op.f("fk_notification_attempts_delivery_id_notification_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_attempts")),
    )
    with op.batch_alter_table("notification_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notification_attempts_delivery_id"), ["delivery_id"], unique=False
        )

    op.create_table(
        "alert_history",
        sa.Column("alert_id", sa.Uuid(), nullable=False),
        sa.Column("fingerprint", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column(
            "labels",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("from_state", sa.String(length=16), nullable=False),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("muted", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_history_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_history")),
    )
    with op.batch_alter_table("alert_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_history_alert_id"), ["alert_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alert_history_at"), ["at"], unique=False)
        batch_op.create_index("ix_alert_history_name_at", ["name", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alert_history", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_history_name_at")
        batch_op.drop_index(batch_op.f("ix_alert_history_at"))
        batch_op.drop_index(batch_op.f("ix_alert_history_alert_id"))

    op.drop_table("alert_history")
    with op.batch_alter_table("notification_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_attempts_delivery_id"))

    op.drop_table("notification_attempts")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_state"))
        batch_op.drop_index(batch_op.f("ix_alerts_name"))

    op.drop_table("alerts")
    with op.batch_alter_table("silences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_silences_ends_at"))

    op.drop_table("silences")
    with op.batch_alter_table("notification_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_deliveries_state_due")

    op.drop_table("notification_deliveries")
    # On PostgreSQL this drops every monthly partition with the parent.
    op.drop_table("metrics")
    op.drop_table("leases")
