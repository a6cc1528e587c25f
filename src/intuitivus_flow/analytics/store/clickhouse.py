"""ClickHouse, the scale-out engine: a server over its HTTP interface, or chDB (the same
engine in-process, how the ClickHouse SQL path is tested here)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import httpx

from intuitivus_flow.analytics.store.base import (
    EVENT_COLUMNS,
    AnalyticsStore,
    QueryResult,
    StoreError,
)

if TYPE_CHECKING:
    import pyarrow as pa

_STATEMENT_TIMEOUT = httpx.Timeout(300.0, connect=5.0)


def _utc_batch(batch: pa.Table) -> pa.Table:
    import pyarrow as pa

    ordered = batch.select(list(EVENT_COLUMNS))
    for name in ("timestamp", "received_at"):
        index = ordered.schema.get_field_index(name)
        ordered = ordered.set_column(
            index, name, ordered.column(name).cast(pa.timestamp("us", tz="UTC"))
        )
    return ordered


class ChDBStore(AnalyticsStore):
    dialect = "clickhouse"

    def __init__(self, path: str) -> None:
        super().__init__()
        from chdb import session

        # chDB allows one session per process; a path keeps the data across restarts.
        # (chDB's session API is untyped: held as Any.)
        factory: Any = session.Session
        self._session: Any = factory(path) if path else factory()
        self.path = path

    def execute(self, statement: str) -> QueryResult:
        with self._lock:
            try:
                result = self._session.query(statement, "JSONCompact")
            except Exception as exc:  # chDB raises plain RuntimeErrors
                raise StoreError(f"analytics query failed: {exc}") from exc
        return _compact(str(result))

    def insert_events(self, batch: pa.Table) -> int:
        incoming = _utc_batch(batch)  # noqa: F841 - chDB's Python() reads this local by name
        with self._lock:
            try:
                self._session.query(
                    f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) "
                    f"SELECT {', '.join(EVENT_COLUMNS)} FROM Python(incoming)"
                )
            except Exception as exc:
                raise StoreError(f"analytics insert failed: {exc}") from exc
        return int(batch.num_rows)

    def close(self) -> None:
        with self._lock:
            self._session.close()


class ClickHouseHTTPStore(AnalyticsStore):
    dialect = "clickhouse"

    def __init__(self, *, base_url: str, database: str, user: str, password: str) -> None:
        super().__init__()
        self._client = httpx.Client(
            base_url=base_url,
            timeout=_STATEMENT_TIMEOUT,
            headers={"X-ClickHouse-User": user, "X-ClickHouse-Key": password},
        )
        self._database = database

    def execute(self, statement: str) -> QueryResult:
        stripped = statement.strip().upper()
        reads = stripped.startswith(("SELECT", "WITH"))
        query = statement + (" FORMAT JSONCompact" if reads else "")
        return _compact(self._post(query, b""))

    def insert_events(self, batch: pa.Table) -> int:
        import pyarrow as pa

        sink = io.BytesIO()
        table = _utc_batch(batch)
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        self._post(
            f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) FORMAT ArrowStream", sink.getvalue()
        )
        return int(batch.num_rows)

    def _post(self, query: str, content: bytes) -> str:
        try:
            response = self._client.post(
                "/", params={"database": self._database, "query": query}, content=content
            )
        except httpx.HTTPError as exc:
            raise StoreError(f"ClickHouse unreachable: {exc}") from exc
        if response.status_code != 200:
            raise StoreError(f"ClickHouse refused a statement: {response.text[:500]}")
        return response.text

    def close(self) -> None:
        self._client.close()


def _compact(text: str) -> QueryResult:
    """JSONCompact to Python values like DuckDB's: 64-bit integers arrive quoted, times as
    text; both engines' results then compare equal."""
    if not text.strip():
        return QueryResult([], [])
    body = json.loads(text)
    columns = [item["name"] for item in body["meta"]]
    converters = [_converter(item["type"]) for item in body["meta"]]
    rows = [
        tuple(convert(value) for convert, value in zip(converters, row, strict=True))
        for row in body["data"]
    ]
    return QueryResult(columns, rows)


def _converter(type_name: str) -> Callable[[Any], Any]:
    inner = type_name
    for wrapper in ("Nullable(", "LowCardinality("):
        if inner.startswith(wrapper):
            inner = inner[len(wrapper) : -1]
    if inner.startswith("Array("):
        element = _converter(inner[len("Array(") : -1])
        return lambda value: None if value is None else [element(item) for item in value]
    if inner.startswith(("Int", "UInt")):
        return lambda value: None if value is None else int(value)
    if inner.startswith(("Float", "Decimal")):
        return lambda value: None if value is None else float(value)
    if inner.startswith("DateTime"):
        return lambda value: None if value is None else _utc(value)
    if inner.startswith("Date"):
        return lambda value: None if value is None else date.fromisoformat(value)
    return lambda value: value


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
