"""The product's hot queries, as the server sees them (`$n` parameters, like
`pg_stat_statements` shows them), for `EXPLAIN` on either engine and for the index advisor.

Each mirrors one repository method (named in `source`); `tests/performance/database` runs
them against the migrated schema so a renamed column fails a test instead of this list
drifting silently. The constant predicates are written as constants where the product's value
is fixed (a job status), which is what lets the advisor propose partial indexes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HotQuery:
    name: str
    source: str  # the repository method it mirrors
    table: str  # the table it must not scan in full
    sql: str  # `$n` parameters; SQLite reads `$1` as a named parameter too
    index: str  # the index that serves it (a migration creates it)
    postgres_suffix: str = ""  # row locks SQLite does not have


# A term anywhere in the name, email or phone; the product passes the same pattern to each.
_SEARCH = (
    "lower(name) LIKE $2 ESCAPE '\\' OR lower(email) LIKE $3 ESCAPE '\\' "
    "OR phone LIKE $4 ESCAPE '\\'"
)
_SEARCH_INDEX = (
    "CREATE INDEX CONCURRENTLY ix_contacts_name_email_phone_trgm ON contacts USING gin "
    "(lower(name) gin_trgm_ops, lower(email) gin_trgm_ops, phone gin_trgm_ops) (PostgreSQL)"
)

HOT_QUERIES: tuple[HotQuery, ...] = (
    HotQuery(
        name="message receipt",
        source="conversations.repository.MessageRepository.by_channel_id",
        table="conversation_messages",
        sql="SELECT * FROM conversation_messages WHERE workspace_id = $1 "
        "AND channel_message_id = $2 LIMIT $3",
        index="uq_conversation_messages_channel_id (exists)",
    ),
    HotQuery(
        name="events by name",
        source="events.repository.EventRepository.recent(name=...)",
        table="events",
        sql="SELECT * FROM events WHERE workspace_id = $1 AND name = $2 "
        "ORDER BY occurred_at DESC, id LIMIT $3",
        index="CREATE INDEX CONCURRENTLY ix_events_workspace_id_name_occurred_at ON "
        "events (workspace_id, name, occurred_at)",
    ),
    HotQuery(
        name="analytics copy",
        source="analytics.repository.CopySource.product_events (a run's first batch)",
        table="events",
        sql="SELECT * FROM events WHERE received_at >= $1 ORDER BY received_at, id LIMIT $2",
        index="CREATE INDEX CONCURRENTLY ix_events_received_at_id ON events (received_at, id)",
    ),
    HotQuery(
        name="analytics copy, next batch",
        source="analytics.repository.CopySource.product_events (after a cursor)",
        table="events",
        sql="SELECT * FROM events WHERE (received_at, id) > ($1, $2) "
        "ORDER BY received_at, id LIMIT $3",
        index="CREATE INDEX CONCURRENTLY ix_events_received_at_id ON events (received_at, id)",
    ),
    HotQuery(
        name="job queue stats",
        source="jobs.repository.JobQueueRepository.stats",
        table="jobs",
        sql="SELECT queue, count(*) FILTER (WHERE status = 'queued' AND run_at <= $1), "
        "min(run_at) FILTER (WHERE status = 'queued' AND run_at <= $2), "
        "count(*) FILTER (WHERE status = 'running') FROM jobs "
        "WHERE status IN ('queued', 'running') GROUP BY queue",
        index="CREATE INDEX CONCURRENTLY ix_jobs_unfinished ON jobs (queue, run_at) "
        "WHERE status IN ('queued', 'running')",
    ),
    HotQuery(
        name="job claim",
        source="jobs.repository.JobQueueRepository.claim",
        table="jobs",
        sql="SELECT id FROM jobs WHERE queue IN ($1) AND ((status = 'queued' AND run_at <= $2) "
        "OR (status = 'running' AND locked_until < $3)) ORDER BY run_at, created_at LIMIT 1",
        index="CREATE INDEX CONCURRENTLY ix_jobs_unfinished ON jobs (queue, run_at) "
        "WHERE status IN ('queued', 'running')",
        postgres_suffix=" FOR UPDATE SKIP LOCKED",
    ),
    HotQuery(
        name="dashboard recent events",
        source="dashboard.repository.DashboardQueries.recent_events",
        table="events",
        sql="SELECT * FROM events WHERE workspace_id = $1 ORDER BY occurred_at DESC, id LIMIT $2",
        index="ix_events_workspace_id_occurred_at (exists)",
    ),
    HotQuery(
        name="inbox",
        source="conversations.repository.ConversationRepository.inbox",
        table="conversations",
        sql="SELECT * FROM conversations WHERE workspace_id = $1 AND state = $2 "
        "ORDER BY last_message_at DESC, id DESC LIMIT $3",
        index="ix_conversations_workspace_id_state (exists)",
    ),
    HotQuery(
        name="inbox, all states",
        source="conversations.repository.ConversationRepository.inbox(state=None)",
        table="conversations",
        sql="SELECT * FROM conversations WHERE workspace_id = $1 "
        "ORDER BY last_message_at DESC, id DESC LIMIT $2",
        index="CREATE INDEX CONCURRENTLY ix_conversations_workspace_id_last_message_at_id ON "
        "conversations (workspace_id, last_message_at, id)",
    ),
    HotQuery(
        name="contacts search",
        source="contacts.repository.ContactRepository.listing(search=...)",
        table="contacts",
        sql=f"SELECT * FROM contacts WHERE workspace_id = $1 AND ({_SEARCH}) "  # noqa: S608
        "ORDER BY created_at, id LIMIT $5",
        index=_SEARCH_INDEX,
    ),
    HotQuery(
        name="contacts search, total",
        source="kit.repository.Repository.paginate (the page's count of a contact search)",
        table="contacts",
        sql=f"SELECT count(*) FROM contacts WHERE workspace_id = $1 AND ({_SEARCH})",  # noqa: S608
        index=_SEARCH_INDEX,
    ),
    HotQuery(
        name="contacts listing",
        source="contacts.repository.ContactRepository.listing",
        table="contacts",
        sql="SELECT * FROM contacts WHERE workspace_id = $1 ORDER BY created_at, id LIMIT $2",
        index="ix_contacts_workspace_id_created_at (exists)",
    ),
    HotQuery(
        name="campaign deliveries",
        source="campaigns.automation.repository.DeliveryRepository.recent",
        table="campaign_step_deliveries",
        sql="SELECT * FROM campaign_step_deliveries WHERE workspace_id = $1 AND campaign_id = $2 "
        "ORDER BY created_at DESC, id LIMIT $3",
        index="ix_campaign_step_deliveries_campaign_id (exists)",
    ),
)


def parameter_count(sql: str) -> int:
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="postgres")
    numbers = [int(p.name) for p in tree.find_all(exp.Placeholder) if p.name.isdigit()]
    parameters = [int(p.name) for p in tree.find_all(exp.Parameter) if p.name.isdigit()]
    return max([0, *numbers, *parameters])
