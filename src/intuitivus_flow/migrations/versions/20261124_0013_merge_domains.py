"""join the domain branches (billing, conversations, campaigns, crews, forecasting)

The domains were developed side by side off 0006; this revision makes the history linear
again for everything that comes next.

Revision ID: 0013_merge_domains
Revises: 0007_billing, 0008_conversations, 0009_campaigns, 0010_crews, 0012_forecasting
Create Date: 2026-11-24 22:56:09.507360
"""

from collections.abc import Sequence

revision: str = "0013_merge_domains"
down_revision: str | Sequence[str] | None = (
    "0007_billing",
    "0008_conversations",
    "0009_campaigns",
    "0010_crews",
    "0012_forecasting",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
