"""The analytics store: events in a columnar engine, queried per workspace.

Interface for every analysis (funnels, paths, retention, KPIs, CLV):

    from intuitivus_flow.analytics.store import open_store

    store = open_store(settings.analytics_url)       # cached per URL, schema migrated
    result = store.query(workspace_id, "SELECT person_id, timestamp, properties "
                         "FROM {events} WHERE event = {event}", event="payment.succeeded")
    result.columns, result.rows                       # names, list of tuples

`{events}` is replaced by the workspace's events only (the tenant filter is the store's, never
the caller's), other `{name}` placeholders by safely quoted literals of the keyword arguments
(str, int, float, bool, datetime, UUID, None). `store.dialect` ("duckdb" or "clickhouse") tells
which SQL the engine speaks; `store.sql` has the helpers whose spelling differs.
Calls block: call them from a thread (`asyncio.to_thread`) in async code.

The events table (same columns on every engine; docs/analytics.md):

| column | type | meaning |
|---|---|---|
| workspace_id | text (UUID) | tenant |
| person_id | text | a contact id, a member's user id, or the Segment userId/anonymousId |
| event | text | event name (`signup`, `payment.succeeded`, `$identify` ...) |
| timestamp | timestamp, UTC, microseconds | when it happened |
| properties | text (JSON object) | the event's properties |
| message_id | text | unique per workspace (Segment messageId, or the product event's id) |
| source | text | `product` (the app's own events) or `collect` (the collection API) |
| received_at | timestamp, UTC | when the application database received it |
"""

from __future__ import annotations

from intuitivus_flow.analytics.store.base import (
    EVENT_COLUMNS,
    AnalyticsStore,
    QueryResult,
    StoreError,
    close_stores,
    open_store,
)

__all__ = [
    "EVENT_COLUMNS",
    "AnalyticsStore",
    "QueryResult",
    "StoreError",
    "close_stores",
    "open_store",
]
