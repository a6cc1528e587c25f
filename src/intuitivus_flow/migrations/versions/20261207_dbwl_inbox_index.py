"""conversations (workspace_id, last_message_at, id): the inbox without a state filter
(issue 18; benchmarks/db_workload.py)

The inbox lists a workspace's conversations by latest activity (last_message_at DESC, id
DESC). The existing (workspace_id, state, last_message_at) index serves it only with a state
filter; without one PostgreSQL read every conversation of the workspace and sorted them. The
product workload on 100 k conversations ranked this the slowest statement and the advisor's
index, scanned backwards, reads the first page directly (docs/performance.md has the figures).

On PostgreSQL the index is built and dropped CONCURRENTLY (kit.migrations.
create_index_online), so a large conversations table keeps taking writes meanwhile; one an
operator created beforehand with the advisor's statement is found (IF NOT EXISTS) and kept.

Revision ID: dbwl_inbox_index
Revises: dstr_detector_streams
Create Date: 2026-12-07 03:30:00.000000
"""

from collections.abc import Sequence

from intuitivus_flow.kit.migrations import create_index_online, drop_index_online

revision: str = "dbwl_inbox_index"
down_revision: str | Sequence[str] | None = "dstr_detector_streams"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_conversations_workspace_id_last_message_at_id": ["workspace_id", "last_message_at", "id"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        create_index_online(name, "conversations", f"({', '.join(columns)})")


def downgrade() -> None:
    for name in INDEXES:
        drop_index_online(name)
