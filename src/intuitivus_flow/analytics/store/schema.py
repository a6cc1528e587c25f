"""The analytics store's own schema migrations: a short versioned list of DDL per engine,
applied in order by `AnalyticsStore.migrate` and recorded in `analytics_schema_migrations`.
Append a version; never edit an applied one.

ClickHouse: partitioned by month (old months can be dropped or moved whole), ordered by
(workspace, time, person) so a workspace's time range is a contiguous read and a person's
events sit together inside it. DuckDB needs no layout: its row groups carry min/max zone maps,
and rows arrive roughly in time order; it stores a 64-bit person key next to the id (version 3).
"""

from __future__ import annotations

DUCKDB: list[tuple[int, list[str]]] = [
    (
        1,
        [
            "CREATE TABLE IF NOT EXISTS events ("
            " workspace_id VARCHAR NOT NULL,"
            " person_id VARCHAR NOT NULL,"
            " event VARCHAR NOT NULL,"
            " timestamp TIMESTAMP NOT NULL,"
            " properties VARCHAR NOT NULL DEFAULT '{}',"
            " message_id VARCHAR NOT NULL,"
            " source VARCHAR NOT NULL,"
            " received_at TIMESTAMP NOT NULL)",
            # append-only: the newest row per source is the watermark
            "CREATE TABLE IF NOT EXISTS copy_watermarks ("
            " source VARCHAR NOT NULL, received_at TIMESTAMP NOT NULL, updated_at TIMESTAMP)",
        ],
    ),
    (
        2,
        [
            "CREATE TABLE IF NOT EXISTS person_aliases ("
            " workspace_id VARCHAR NOT NULL, alias VARCHAR NOT NULL, person_id VARCHAR NOT NULL,"
            " merged_at TIMESTAMP NOT NULL)",
        ],
    ),
    (
        3,
        [
            # the person's 64-bit key, written at insert (dialects.stored_person_key): analyses
            # join and sort on it instead of decompressing the id text
            "ALTER TABLE events ADD COLUMN IF NOT EXISTS person_key UBIGINT",
            "UPDATE events SET person_key = md5_number_lower(person_id) WHERE person_key IS NULL",
        ],
    ),
]

CLICKHOUSE: list[tuple[int, list[str]]] = [
    (
        1,
        [
            "CREATE TABLE IF NOT EXISTS events ("
            " workspace_id LowCardinality(String),"
            " person_id String,"
            " event LowCardinality(String),"
            " timestamp DateTime64(6, 'UTC'),"
            " properties String DEFAULT '{}',"
            " message_id String,"
            " source LowCardinality(String),"
            " received_at DateTime64(6, 'UTC'))"
            " ENGINE = MergeTree"
            " PARTITION BY toYYYYMM(timestamp)"
            " ORDER BY (workspace_id, timestamp, person_id)",
            "CREATE TABLE IF NOT EXISTS copy_watermarks ("
            " source String, received_at DateTime64(6, 'UTC'), updated_at DateTime64(6, 'UTC'))"
            " ENGINE = ReplacingMergeTree(updated_at) ORDER BY source",
        ],
    ),
    (
        2,
        [
            "CREATE TABLE IF NOT EXISTS person_aliases ("
            " workspace_id LowCardinality(String), alias String, person_id String,"
            " merged_at DateTime64(6, 'UTC'))"
            " ENGINE = ReplacingMergeTree(merged_at) ORDER BY (workspace_id, alias)",
        ],
    ),
]


def migrations_for(dialect: str) -> list[tuple[int, list[str]]]:
    return CLICKHOUSE if dialect == "clickhouse" else DUCKDB
