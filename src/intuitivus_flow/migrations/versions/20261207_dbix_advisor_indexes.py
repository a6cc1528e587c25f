"""events: the indexes the index advisor proved (issue 18; benchmarks/db_advisor.py)

- (workspace_id, name, occurred_at) replaces (workspace_id, name): the event list filtered by
  name reads its newest page straight from the index instead of sorting every event of that
  name (the old index is its prefix, so it goes).
- (received_at, id) serves the analytics copy, which reads events after a (received_at, id)
  cursor in that order: without it every copy batch scans and sorts the whole table (about
  300 ms a batch at 1 M events), with it a batch starts at the cursor (under 1 ms).

On PostgreSQL the indexes are built and dropped CONCURRENTLY (kit.migrations.
create_index_online): events is large and written all the time, and a plain CREATE INDEX
would hold its writes for the whole build. An index an operator created beforehand with the
advisor's statement is found (IF NOT EXISTS) and kept.

Revision ID: dbix_advisor_indexes
Revises: evco_analytics_collection
Create Date: 2026-12-07 02:30:00.000000
"""

from collections.abc import Sequence

from intuitivus_flow.kit.migrations import create_index_online, drop_index_online

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
        create_index_online(name, "events", f"({', '.join(columns)})")
    for name in REPLACED:
        drop_index_online(name)


def downgrade() -> None:
    for name, columns in REPLACED.items():
        create_index_online(name, "events", f"({', '.join(columns)})")
    for name in INDEXES:
        drop_index_online(name)
