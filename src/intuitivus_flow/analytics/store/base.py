"""What every analytics engine offers: a tenant-scoped read query, a bulk insert, its schema.

See the package docstring for the interface; `embedded.py` (DuckDB) and `clickhouse.py`
(a ClickHouse server over HTTP, or chDB in-process) implement it.
"""

from __future__ import annotations

import re
import threading
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from intuitivus_flow.analytics.store.dialects import SqlDialect, dialect_named
from intuitivus_flow.kit.errors import FlowError

if TYPE_CHECKING:
    import numpy.typing as npt
    import pyarrow as pa

# Column order of the events table and of every batch handed to `insert_events`.
EVENT_COLUMNS = (
    "workspace_id",
    "person_id",
    "event",
    "timestamp",
    "properties",
    "message_id",
    "source",
    "received_at",
)

# A quoted literal (left as it is, whatever braces it holds) or a `{name}` placeholder.
_PLACEHOLDER = re.compile(r"('(?:[^'\\]|\\.)*')|\{([a-z_][a-z0-9_]*)\}")


class StoreError(FlowError):
    """The analytics store is misconfigured or refused a statement."""

    status_code = 503
    type = "analytics-store-unavailable"
    title = "Analytics store unavailable"


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


class AnalyticsStore(ABC):
    """One engine holding the events of every workspace; each query sees one workspace."""

    dialect: ClassVar[str]

    def __init__(self) -> None:
        self.sql: SqlDialect = dialect_named(self.dialect)
        # Engines are used from worker threads; one statement at a time per store keeps the
        # embedded engines' single connection safe (they parallelise inside a statement).
        self._lock = threading.RLock()

    # --- what engines implement ---
    @abstractmethod
    def execute(self, statement: str) -> QueryResult:
        """Run one statement as written (no tenant scoping: store-internal use only)."""

    @abstractmethod
    def insert_events(self, batch: pa.Table) -> int:
        """Append a batch (an Arrow table with EVENT_COLUMNS) and return its row count."""

    @abstractmethod
    def close(self) -> None: ...

    # --- shared ---
    def query(self, workspace_id: uuid.UUID, statement: str, **values: Any) -> QueryResult:
        """Run a read query over one workspace's events: `{events}` is that workspace's rows,
        `{name}` a quoted literal of `values[name]`."""
        return self.execute(self.render(workspace_id, statement, **values))

    def query_columns(
        self, workspace_id: uuid.UUID, statement: str, **values: Any
    ) -> dict[str, npt.NDArray[Any]]:
        """`query`'s answer as one numpy array per column, for an analysis that finishes in
        numpy; select no NULLs (DuckDB would mask them). This generic one builds them from
        the rows; DuckDB's client hands its columns over as they are (embedded.py)."""
        import numpy as np

        result = self.query(workspace_id, statement, **values)
        by_column = zip(*result.rows, strict=True) if result.rows else ([] for _ in result.columns)
        return {
            name: np.asarray(column) for name, column in zip(result.columns, by_column, strict=True)
        }

    def render(self, workspace_id: uuid.UUID, statement: str, **values: Any) -> str:
        events = self._events_of(str(uuid.UUID(str(workspace_id))))

        def substitute(match: re.Match[str]) -> str:
            if match.group(1) is not None:
                return match.group(1)
            name = match.group(2)
            if name == "events":
                return events
            if name not in values:
                raise KeyError(f"no value for placeholder {{{name}}}")
            return self.sql.literal(values[name])

        return _PLACEHOLDER.sub(substitute, statement)

    def _events_of(self, workspace: str) -> str:
        """The workspace's events; with merged identities, each anonymous id reads as its
        person (identify after the fact, as PostHog's person overrides)."""
        literal = self.sql.literal(workspace)
        merged = self.execute(
            f"SELECT count(*) FROM person_aliases WHERE workspace_id = {literal}"
        ).rows
        if not merged or not merged[0][0]:
            return f"(SELECT * FROM events WHERE workspace_id = {literal})"
        unmerged = "a.person_id IS NULL OR a.person_id = ''"
        columns = ", ".join(
            f"CASE WHEN {unmerged} THEN e.person_id ELSE a.person_id END AS person_id"
            if column == "person_id"
            else f"e.{column} AS {column}"
            for column in EVENT_COLUMNS
        )
        stored_key = self.sql.stored_person_key("a.person_id")
        if stored_key is not None:
            columns += (
                f", CASE WHEN {unmerged} THEN e.person_key ELSE {stored_key} END AS person_key"
            )
        aliases = (
            f"SELECT alias, {self.sql.arg_max('person_id', 'merged_at')} AS person_id "
            f"FROM person_aliases WHERE workspace_id = {literal} GROUP BY alias"
        )
        return (
            f"(SELECT {columns} FROM events e LEFT JOIN ({aliases}) a ON a.alias = e.person_id "
            f"WHERE e.workspace_id = {literal})"
        )

    def add_aliases(self, workspace_id: uuid.UUID, aliases: dict[str, str]) -> None:
        """Read events of each alias (an anonymous id) as those of its person from now on."""
        if not aliases:
            return
        now = self.sql.literal(datetime.now(UTC))
        workspace = self.sql.literal(str(workspace_id))
        rows = ", ".join(
            f"({workspace}, {self.sql.literal(alias)}, {self.sql.literal(person)}, {now})"
            for alias, person in aliases.items()
            if alias != person
        )
        if rows:
            self.execute(
                f"INSERT INTO person_aliases (workspace_id, alias, person_id, merged_at) "
                f"VALUES {rows}"
            )

    def watermark(self, source: str) -> datetime | None:
        rows = self.execute(
            "SELECT received_at FROM copy_watermarks WHERE source = "
            f"{self.sql.literal(source)} ORDER BY updated_at DESC LIMIT 1"
        ).rows
        return rows[0][0] if rows else None

    def set_watermark(self, source: str, received_at: datetime) -> None:
        self.execute(
            "INSERT INTO copy_watermarks (source, received_at, updated_at) VALUES "
            f"({self.sql.literal(source)}, {self.sql.literal(received_at)}, "
            f"{self.sql.literal(datetime.now(UTC))})"
        )

    def copied_ids(self, since: datetime, until: datetime) -> set[tuple[str, str]]:
        """(workspace, message id) of the events received in [since, until] already here: the
        copy's duplicate check, a range read of what the previous runs copied."""
        rows = self.execute(
            "SELECT workspace_id, message_id FROM events WHERE received_at >= "
            f"{self.sql.literal(since)} AND received_at <= {self.sql.literal(until)}"
        ).rows
        return {(str(w), str(m)) for w, m in rows}

    def migrate(self) -> list[int]:
        """Apply the engine's schema versions not yet recorded; return those applied."""
        from intuitivus_flow.analytics.store.schema import migrations_for

        with self._lock:
            self.execute(self.sql.migrations_table())
            done = {
                int(row[0])
                for row in self.execute("SELECT version FROM analytics_schema_migrations").rows
            }
            applied = []
            for version, statements in migrations_for(self.dialect):
                if version in done:
                    continue
                for statement in statements:
                    self.execute(statement)
                now = self.sql.literal(datetime.now(UTC))
                self.execute(
                    "INSERT INTO analytics_schema_migrations (version, applied_at) "
                    f"VALUES ({version}, {now})"
                )
                applied.append(version)
            return applied

    def existing_message_ids(self, workspace_id: uuid.UUID, message_ids: list[str]) -> set[str]:
        """Which of these message ids the store already holds (the copy's idempotence)."""
        if not message_ids:
            return set()
        found: set[str] = set()
        for start in range(0, len(message_ids), 5000):
            chunk = message_ids[start : start + 5000]
            listed = ", ".join(self.sql.literal(item) for item in chunk)
            result = self.query(
                workspace_id, f"SELECT message_id FROM {{events}} WHERE message_id IN ({listed})"
            )
            found.update(str(row[0]) for row in result.rows)
        return found


_stores: dict[str, AnalyticsStore] = {}
_stores_lock = threading.Lock()


def open_store(url: str) -> AnalyticsStore:
    """The store at `url` (one per URL and process), its schema migrated.

    `duckdb:///path/file.duckdb` (embedded, the default), `duckdb:///:memory:`,
    `chdb:///path/dir` (ClickHouse in-process), `clickhouse://user:pass@host:8123/db`
    (`clickhouses://` for TLS).
    """
    with _stores_lock:
        store = _stores.get(url)
        if store is None:
            store = _build(url)
            store.migrate()
            _stores[url] = store
        return store


def close_stores() -> None:
    with _stores_lock:
        for store in _stores.values():
            store.close()
        _stores.clear()


def _build(url: str) -> AnalyticsStore:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    path = url.split("://", 1)[1][1:] if "://" in url else ""
    if scheme == "duckdb":
        from intuitivus_flow.analytics.store.embedded import DuckDBStore

        return DuckDBStore(path or ":memory:")
    if scheme == "chdb":
        from intuitivus_flow.analytics.store.clickhouse import ChDBStore

        return ChDBStore(path)
    if scheme in {"clickhouse", "clickhouses"}:
        from intuitivus_flow.analytics.store.clickhouse import ClickHouseHTTPStore

        return ClickHouseHTTPStore(
            base_url=f"{'https' if scheme == 'clickhouses' else 'http'}://"
            f"{parts.hostname or 'localhost'}:{parts.port or 8123}",
            database=parts.path.strip("/") or "default",
            user=parts.username or "default",
            password=parts.password or "",
        )
    raise StoreError(
        f"FLOW_ANALYTICS_URL {scheme or url!r} is not a store: use duckdb:///path, "
        "chdb:///path or clickhouse://host:8123/db"
    )
