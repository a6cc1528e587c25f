"""web chat: the widget's allowed browser origins (issue 17)

Existing widgets start with an empty list: no site's browser may use them until an owner or
admin names the site's origin on the Channels page (there was no embeddable widget before, so
no site depends on them).

Revision ID: wgto_widget_allowed_origins
Revises: cnst_contact_consent
Create Date: 2026-12-07 06:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "wgto_widget_allowed_origins"
down_revision: str | Sequence[str] | None = "cnst_contact_consent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "conversation_settings",
        sa.Column(
            "widget_allowed_origins",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
            server_default=sa.text("'[]'"),
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("conversation_settings") as batch_op:
        batch_op.drop_column("widget_allowed_origins")
