"""events: the indexes the index advisor proved (issue 18; benchmarks/db_advisor.py)

- (workspace_id, name, occurred_at) replaces (workspace_id, name): the event list filtered by
  name reads its newest page straight from the index instead of sorting every event of that
  name (the old index is its prefix, so it goes).
- (received_at, id) serves the analytics copy, which reads events after a (received_at, id)
  cursor in that order: without it every copy batch scans and sorts the whole table (about
  300 ms a batch at 1 M events), with it a batch starts at the cursor (under 1 ms).

On a large live table, run the advisor's `CREATE INDEX CONCURRENTLY` statements (docs/
performance.md) before upgrading: the upgrade then finds the indexes (IF NOT EXISTS) instead of
building them under a lock that holds writes to events.

Revision ID: dbix_advisor_indexes
Revises: evco_analytics_collection
Create Date: 2026-12-07 02:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "dbix_advisor_indexes"
down_revision: str | Sequence[str] | None = "evco_analytics_collection"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_events_workspace_id_name_occurred_at": ["workspace_id", "name", "occurred_at"],
    "ix_events_received_at_id": ["received_at", "id"],
}
REPLACED = {"ix_events_workspace_id_name": ["workspace_id", "name"]}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "events", columns, if_not_exists=True)
    for name in REPLACED:
        op.drop_index(name, table_name="events", if_exists=True)


def downgrade() -> None:
    for name, columns in REPLACED.items():
        op.create_index(name, "events", columns, if_not_exists=True)
    for name in INDEXES:
        op.drop_index(name, table_name="events", if_exists=True)
