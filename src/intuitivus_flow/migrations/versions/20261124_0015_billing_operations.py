"""billing operations: invoice due dates (the past_due sweep) and the operators' payment desk

Open invoices that exist before this revision get a due date seven days (the payment terms)
after the upgrade, so nobody is moved to past_due by the first sweep for an invoice that had
no due date when it was issued.

Revision ID: 0015_billing_operations
Revises: 0013_merge_domains
Create Date: 2026-11-25 00:30:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import intuitivus_flow.kit.models

revision: str = "0015_billing_operations"
down_revision: str | Sequence[str] | None = "0013_merge_domains"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The payment terms of billing/service.py at the time of writing (a migration must not change
# meaning when the code's constant does).
PAYMENT_TERMS = timedelta(days=7)


def upgrade() -> None:
    with op.batch_alter_table("billing_invoices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "due_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.create_index(
            "ix_billing_invoices_status_due_at", ["status", "due_at"], unique=False
        )
    with op.batch_alter_table("billing_payments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_billing_payments_gateway_status", ["gateway", "status"], unique=False
        )
    _give_open_invoices_a_due_date()


def _give_open_invoices_a_due_date() -> None:
    invoices = sa.table(
        "billing_invoices",
        sa.column("status", sa.String()),
        sa.column("due_at", intuitivus_flow.kit.models.UTCDateTime(timezone=True)),
    )
    op.execute(
        invoices.update()
        .where(invoices.c.status == "open", invoices.c.due_at.is_(None))
        .values(due_at=datetime.now(UTC) + PAYMENT_TERMS)
    )


def downgrade() -> None:
    with op.batch_alter_table("billing_payments", schema=None) as batch_op:
        batch_op.drop_index("ix_billing_payments_gateway_status")
    with op.batch_alter_table("billing_invoices", schema=None) as batch_op:
        batch_op.drop_index("ix_billing_invoices_status_due_at")
        batch_op.drop_column("due_at")
