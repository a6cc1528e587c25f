"""The embedded engine: DuckDB in this process, one file under the data directory."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from intuitivus_flow.analytics.store.base import (
    EVENT_COLUMNS,
    AnalyticsStore,
    QueryResult,
    StoreError,
)

if TYPE_CHECKING:
    import pyarrow as pa


class DuckDBStore(AnalyticsStore):
    dialect = "duckdb"

    def __init__(self, path: str) -> None:
        super().__init__()
        import duckdb

        self._duckdb = duckdb
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._connection = duckdb.connect(path)
        except duckdb.Error as exc:
            raise StoreError(f"cannot open the analytics store {path}: {exc}") from exc
        self.path = path

    def execute(self, statement: str) -> QueryResult:
        with self._lock:
            try:
                cursor = self._connection.execute(statement)
                fetched = cursor.fetchall() if cursor.description else []
                columns = [item[0] for item in cursor.description or []]
            except self._duckdb.Error as exc:
                raise StoreError(f"analytics query failed: {exc}") from exc
        # TIMESTAMP columns hold UTC without a zone; say so, as ClickHouse's results do.
        rows: list[tuple[Any, ...]] = [tuple(_aware(value) for value in row) for row in fetched]
        return QueryResult(columns, rows)

    def insert_events(self, batch: pa.Table) -> int:
        ordered = batch.select(list(EVENT_COLUMNS))
        with self._lock:
            try:
                self._connection.register("incoming_batch", ordered)
                try:
                    self._connection.execute(
                        f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) "
                        f"SELECT {', '.join(_cast(c) for c in EVENT_COLUMNS)} FROM incoming_batch"
                    )
                finally:
                    self._connection.unregister("incoming_batch")
            except self._duckdb.Error as exc:
                raise StoreError(f"analytics insert failed: {exc}") from exc
        return int(batch.num_rows)

    def close(self) -> None:
        with self._lock:
            self._connection.close()


def _cast(column: str) -> str:
    # Arrow timestamps with a time zone arrive as TIMESTAMPTZ; the table keeps naive UTC.
    if column in {"timestamp", "received_at"}:
        return f"CAST(timezone('UTC', {column}) AS TIMESTAMP)"
    return column


def _aware(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
