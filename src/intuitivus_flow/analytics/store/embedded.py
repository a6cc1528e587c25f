"""The embedded engine: DuckDB in this process, one file under the data directory.

Several processes share the file (`serve --workers N` and the job worker), and DuckDB lets one
process at a time hold it read-write (readers may share it read-only). So the store holds the
file only during an operation: one in-memory DuckDB instance is kept per store, and each
operation ATTACHes the file (READ_ONLY for reads), runs, and DETACHes it, under the store's
in-process lock. When another process holds a conflicting lock, the attach is retried with
backoff for `busy_timeout` seconds (default 5; `?busy_timeout=10` on the URL), then fails with
a StoreError saying the store is busy; a `<file>.lock` turnstile keeps readers from starving a
waiting writer (`_turnstile`). A query (its alias lookup and its statement) and a migration
each keep the file attached throughout, so `migrate` applies its versions once however many
processes start at the same time; `session()` does the same for a longer analysis.

Cost (`benchmarks/analytics_connect.py`, 200 k events, two runs on 2 cores shared with ~20
busy processes): a small query took 2.0-2.5 ms of CPU on a connection kept for the process and
4.3-6.1 ms attaching per operation (wall minimum 1.8-1.9 -> 3.5-3.7 ms), a small write 0.8-1.7
-> 5.5-7.8 ms (its detach checkpoints the WAL). A new DuckDB connection per operation instead
cost 26-37 ms of CPU (a database instance builds its catalog of built-in functions), hence the
kept instance. That is
noise next to an analysis on real data and to the once-a-minute copy job: the benchmark's
5-step funnel on 1 M events took 884 ms (minimum of 5) attaching per call and 1142 ms with the
file kept attached (`session()`), the same within this machine's noise, so analyses need no
session of their own. Many processes or many small queries want ClickHouse
(`FLOW_ANALYTICS_URL=clickhouse://...`). `:memory:` is used directly: no other process can
open it, and detaching would lose it.
"""

from __future__ import annotations

import fcntl
import os
import random
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import numpy as np

from intuitivus_flow.analytics.store.base import (
    EVENT_COLUMNS,
    AnalyticsStore,
    QueryResult,
    StoreError,
)

if TYPE_CHECKING:
    import uuid

    import duckdb
    import numpy.typing as npt
    import pyarrow as pa

DEFAULT_BUSY_TIMEOUT = 5.0
# What DuckDB may hold in the process that embeds it (a web worker): past it, sorts, joins and
# aggregates spill to `<file>.tmp/`. Unset, DuckDB takes 80 % of the machine's memory and keeps
# its buffers: a paths query on 2 M events left a worker 330 MB larger for good.
DEFAULT_MEMORY_LIMIT = "512MB"
_MEMORY_LIMIT = re.compile(r"^\d{1,6}(\.\d{1,3})?\s?(KB|MB|GB|KiB|MiB|GiB)$", re.IGNORECASE)
# A batch is written sorted by workspace and event: its row groups then hold few event names,
# so a funnel's or a retention's event filter skips the others by their min/max (2 M events in
# 1 M batches: 8 of 18 row groups read, funnel CPU -15 to -25 %, retention -45 %; ingestion
# stays at 0.26-0.6 M events/s). A batch under a row group (122,880 rows; the copy job moves
# 50,000) prunes nothing; retention still gains 20-25 % there. docs/analytics.md, Benchmark.
_BATCH_ORDER = "workspace_id, event, person_key, timestamp"
# Statements that only read: run on a read-only connection, which other readers can share.
_READ_KEYWORDS = ("select", "with", "from", "values", "describe", "show", "explain", "summarize")
# The store file's name inside the engine while attached.
_ALIAS = "analytics_store"
# The in-process lock of each store file (by real path), shared by its stores.
_file_locks: dict[str, threading.RLock] = {}
_file_locks_guard = threading.Lock()


class DuckDBStore(AnalyticsStore):
    dialect = "duckdb"

    def __init__(self, path: str, *, busy_timeout: float | None = None) -> None:
        super().__init__()
        import duckdb

        self._duckdb = duckdb
        path, _, options = path.partition("?")
        self.path = path
        self.busy_timeout = _busy_timeout(options, busy_timeout)
        # the connection of the session in progress (held with `_lock`), and whether read-only
        self._held: duckdb.DuckDBPyConnection | None = None
        self._held_read_only = False
        self._attached = False
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                # DuckDB refuses a second attach of a file in one process instead of waiting,
                # so every store of this file here takes turns on one lock
                with _file_locks_guard:
                    self._lock = _file_locks.setdefault(os.path.realpath(path), self._lock)
            # Kept for the process: the file is attached to it per operation. A new DuckDB
            # instance per operation would rebuild its catalog of built-in functions each time.
            self._engine = duckdb.connect(":memory:")
            if path != ":memory:":  # an in-memory store's data must stay in memory
                self._bound_memory(path, _memory_limit(options))
        except (OSError, duckdb.Error) as exc:
            raise StoreError(f"cannot open the analytics store {path}: {exc}") from exc

    def _bound_memory(self, path: str, limit: str) -> None:
        spill = f"{path}.tmp".replace("'", "''")
        self._engine.execute(f"SET memory_limit = '{limit}'")
        self._engine.execute(f"SET temp_directory = '{spill}'")

    @contextmanager
    def session(self, *, read_only: bool = False) -> Iterator[None]:
        """Keep one connection (and the file lock) for every call made inside, e.g. one
        analysis; other processes wait for it meanwhile, so keep it short."""
        with self._lock:
            if self._held is not None:
                if self._held_read_only and not read_only:
                    raise StoreError("analytics store: a write inside a read-only session")
                yield
                return
            connection = self._open(read_only)
            self._held, self._held_read_only = connection, read_only
            try:
                yield
            finally:
                self._held = None
                self._close(connection)

    def query(self, workspace_id: uuid.UUID, statement: str, **values: Any) -> QueryResult:
        # the alias lookup of `{events}` and the statement on one connection
        with self.session(read_only=True):
            return super().query(workspace_id, statement, **values)

    def query_columns(
        self, workspace_id: uuid.UUID, statement: str, **values: Any
    ) -> dict[str, npt.NDArray[Any]]:
        # numeric columns come over as they are, no Python object per value
        with self.session(read_only=True):
            rendered = self.render(workspace_id, statement, **values)
            with self._connection(read_only=True) as connection:
                try:
                    fetched = connection.execute(rendered).fetchnumpy()
                except self._duckdb.Error as exc:
                    raise StoreError(f"analytics query failed: {exc}") from exc
        return {name: np.asarray(column) for name, column in fetched.items()}

    def migrate(self) -> list[int]:
        # One read-write connection throughout: a second process starting now waits for the
        # lock, then finds the versions recorded instead of applying them again.
        with self.session():
            return super().migrate()

    def execute(self, statement: str) -> QueryResult:
        words = statement.lstrip(" \n\t(").split(None, 1)
        read_only = bool(words) and words[0].lower() in _READ_KEYWORDS
        try:
            columns, fetched = self._run(statement, read_only)
        except self._duckdb.InvalidInputException as exc:
            # a write that reads like a read (`WITH ... INSERT`): nothing ran, run it read-write
            if not read_only or self._held is not None or "read-only" not in str(exc):
                raise StoreError(f"analytics query failed: {exc}") from exc
            columns, fetched = self._run(statement, read_only=False)
        # TIMESTAMP columns hold UTC without a zone; say so, as ClickHouse's results do.
        rows: list[tuple[Any, ...]] = [tuple(_aware(value) for value in row) for row in fetched]
        return QueryResult(columns, rows)

    def _run(self, statement: str, read_only: bool) -> tuple[list[str], list[tuple[Any, ...]]]:
        with self._connection(read_only) as connection:
            try:
                cursor = connection.execute(statement)
                fetched = cursor.fetchall() if cursor.description else []
                return [item[0] for item in cursor.description or []], fetched
            except self._duckdb.InvalidInputException:
                raise
            except self._duckdb.Error as exc:
                raise StoreError(f"analytics query failed: {exc}") from exc

    def insert_events(self, batch: pa.Table) -> int:
        import pyarrow as pa

        ordered = batch.select(list(EVENT_COLUMNS))
        for name in ("timestamp", "received_at"):
            # UTC instants to the table's naive UTC in Arrow (a metadata change), not per row
            # in SQL: a time-zone conversion in the INSERT cost most of the ingestion time
            index = ordered.schema.get_field_index(name)
            column = ordered.column(name).cast(pa.timestamp("us", tz="UTC"))
            ordered = ordered.set_column(index, name, column.cast(pa.timestamp("us")))
        with self._connection(read_only=False) as connection:
            try:
                connection.register("incoming_batch", ordered)
                try:
                    connection.execute(
                        f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}, person_key) "
                        f"SELECT {', '.join(EVENT_COLUMNS)}, "
                        f"{self.sql.stored_person_key('person_id')} AS person_key "
                        f"FROM incoming_batch ORDER BY {_BATCH_ORDER}"
                    )
                finally:
                    connection.unregister("incoming_batch")
            except self._duckdb.Error as exc:
                raise StoreError(f"analytics insert failed: {exc}") from exc
        return int(batch.num_rows)

    def close(self) -> None:
        with self._lock:
            self._engine.close()

    # --- connections ---
    @contextmanager
    def _connection(self, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        """The session's connection, else one opened for this operation and closed after it."""
        with self._lock:
            if self._held is not None:
                if self._held_read_only and not read_only:
                    raise StoreError("analytics store: a write inside a read-only session")
                yield self._held
                return
            connection = self._open(read_only)
            try:
                yield connection
            finally:
                self._close(connection)

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        """The engine with the file attached (and in use), read-only if asked: this takes the
        file lock, waiting up to `busy_timeout` for another process's conflicting one."""
        if self.path == ":memory:":
            return self._engine
        if self._attached:  # a previous operation failed to detach (below)
            self._detach()
        mode = " (READ_ONLY)" if read_only else ""
        attach = f"ATTACH {self.sql.string_literal(self.path)} AS {_ALIAS}{mode}"
        wait = _Backoff(self.busy_timeout)
        with self._turnstile(wait):
            while True:
                try:
                    self._engine.execute(attach)
                    self._attached = True
                    self._engine.execute(f"USE {_ALIAS}")
                    return self._engine
                except self._duckdb.Error as exc:
                    if self._attached:
                        self._detach()
                    if "lock" not in str(exc).lower():
                        raise StoreError(
                            f"cannot open the analytics store {self.path}: {exc}"
                        ) from exc
                    if not wait.more():
                        raise self._busy(str(exc)) from exc

    @contextmanager
    def _turnstile(self, wait: _Backoff) -> Iterator[None]:
        """Hold `<file>.lock` while attaching. DuckDB's lock is no queue: readers attaching one
        after the other would keep a writer out for good (measured: 8 small batches took 12 s
        against a reader querying in a loop). A writer waiting here for readers to detach holds
        the turnstile, so new readers queue behind it; readers hold it for the attach only,
        then share the file. Opened per operation, so no descriptor outlives a fork."""
        try:
            gate = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot open the analytics store {self.path}: {exc}") from exc
        try:
            while True:
                try:
                    fcntl.flock(gate, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not wait.more():
                        raise self._busy("another process is waiting for it") from None
            yield
        finally:
            os.close(gate)  # releases the flock

    def _busy(self, why: str) -> StoreError:
        return StoreError(
            f"the analytics store {self.path} is busy: another process held it for "
            f"{self.busy_timeout:g} s (busy_timeout); try again, or use ClickHouse "
            f"(FLOW_ANALYTICS_URL) for many processes ({why})"
        )

    def _close(self, connection: duckdb.DuckDBPyConnection) -> None:
        if self.path != ":memory:":
            self._detach()

    def _detach(self) -> None:
        """Release the file (and its lock; a read-write detach checkpoints the WAL first)."""
        try:
            self._engine.execute("USE memory")
            self._engine.execute(f"DETACH {_ALIAS}")
        except self._duckdb.Error as exc:
            raise StoreError(f"cannot release the analytics store {self.path}: {exc}") from exc
        self._attached = False


class _Backoff:
    """Jittered exponential sleeps until a deadline: processes waiting for the same lock do
    not retry in step."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.delay = 0.002

    def more(self) -> bool:
        """Sleep before the next attempt; False once the deadline has passed."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(left, self.delay * random.uniform(0.5, 1.0)))  # noqa: S311
        self.delay = min(self.delay * 2, 0.05)
        return True


def _busy_timeout(options: str, given: float | None) -> float:
    raw = parse_qs(options).get("busy_timeout", [None])[-1]
    if given is not None and raw is None:
        raw = str(given)
    if raw is None:
        return DEFAULT_BUSY_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 3600:
        raise StoreError(f"analytics store busy_timeout {raw!r}: give seconds, 0 to 3600")
    return seconds


def _memory_limit(options: str) -> str:
    raw = parse_qs(options).get("memory_limit", [DEFAULT_MEMORY_LIMIT])[-1].strip()
    if not _MEMORY_LIMIT.match(raw):
        raise StoreError(f"analytics store memory_limit {raw!r}: give a size such as 512MB or 2GB")
    return raw


def _aware(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
