"""contacts: a trigram index for the contact search (issue 18; benchmarks/db_advisor.py)

The contacts page and `GET /api/contacts?q=` look for a term anywhere in the name, email or
phone (`lower(name) LIKE '%term%' OR lower(email) LIKE ... OR phone LIKE ...`, with the page's
`count(*)`). No B-tree serves a pattern that starts with a wildcard, so every search read all
the workspace's contacts. A GIN index of trigrams (pg_trgm) over the three expressions serves
each branch of the OR (a BitmapOr of three index scans) and the count alike; the index
advisor proposes it and proves it on a scratch copy (HypoPG cannot simulate a GIN index).

PostgreSQL only: SQLite has no trigram index and keeps scanning, as before. pg_trgm ships with
PostgreSQL's contrib and is a trusted extension (a role that may CREATE in the database may
install it). Where it is not available, or the role may not create it, the index is skipped
with a warning: the search answers the same, only slower, and `perf advise` still names it.
The downgrade keeps the extension: other objects, or the operator, may use it.

Revision ID: trgm_contact_search
Revises: wgto_widget_allowed_origins
Create Date: 2026-12-07 06:20:00.000000
"""

import logging
from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

from intuitivus_flow.kit.migrations import create_index_online, drop_index_online

revision: str = "trgm_contact_search"
down_revision: str | Sequence[str] | None = "wgto_widget_allowed_origins"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

logger = logging.getLogger(__name__)

# The advisor's name for it, so an index created ahead with its statement is found and kept.
NAME = "ix_contacts_name_email_phone_trgm"
# The very expressions of ContactRepository.listing(search=...): an expression index serves
# only a query that spells its expression the same way.
DEFINITION = "USING gin (lower(name) gin_trgm_ops, lower(email) gin_trgm_ops, phone gin_trgm_ops)"
INDEXES = {NAME: DEFINITION}  # on contacts, as benchmarks/db_advisor.py reads it

CAN_INSTALL = text(
    """
    SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') AS installed,
           EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') AS available,
           (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
           OR has_database_privilege(current_database(), 'CREATE') AS may_create
    """
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    installed, available, may_create = bind.execute(CAN_INSTALL).one()
    if not installed:
        if not (available and may_create):
            reason = (
                "the migrating role may not create the pg_trgm extension"
                if available
                else "pg_trgm is not installed on the server (PostgreSQL's contrib)"
            )
            logger.warning(
                "contact search index %s skipped: %s; searches stay correct but scan every "
                "contact. As a superuser: CREATE EXTENSION pg_trgm; then "
                "CREATE INDEX CONCURRENTLY %s ON contacts %s",
                NAME, reason, NAME, DEFINITION,
            )  # fmt: skip
            return
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    create_index_online(NAME, "contacts", DEFINITION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        drop_index_online(NAME)
