"""The slow-statement log: statements slower than a threshold, in a bounded ring buffer.

SQLite has no `pg_stat_statements`, so the engine itself times every statement (cursor-level
events, the same clock the driver sees) and keeps the slow ones. The buffer is bounded, so a
pathological burst costs a fixed amount of memory; the oldest entries give way first.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

_STARTED = "flow_slowlog_started"
_LOGS: weakref.WeakKeyDictionary[Engine, SlowStatementLog] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class SlowStatement:
    statement: str
    seconds: float
    at: float  # time.time() when it finished


class SlowStatementLog:
    """Keeps the last `capacity` statements that took at least `threshold_seconds`."""

    def __init__(self, *, threshold_seconds: float = 0.1, capacity: int = 500) -> None:
        self.threshold_seconds = threshold_seconds
        self._entries: deque[SlowStatement] = deque(maxlen=capacity)
        self._lock = threading.Lock()  # sync engines may run statements on several threads

    def record(self, statement: str, seconds: float) -> None:
        if seconds >= self.threshold_seconds:
            with self._lock:
                self._entries.append(SlowStatement(statement, seconds, time.time()))

    def entries(self, *, since: float = 0.0) -> list[SlowStatement]:
        with self._lock:
            return [entry for entry in self._entries if entry.at >= since]


def install_slow_log(
    engine: AsyncEngine, *, threshold_seconds: float = 0.1, capacity: int = 500
) -> SlowStatementLog:
    """Time every statement of `engine` and keep the slow ones (idempotent per engine)."""
    sync_engine = engine.sync_engine
    existing = _LOGS.get(sync_engine)
    if existing is not None:
        return existing
    log = SlowStatementLog(threshold_seconds=threshold_seconds, capacity=capacity)

    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        conn.info.setdefault(_STARTED, []).append(time.perf_counter())

    def after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        started = conn.info.get(_STARTED)
        if started:
            log.record(statement, time.perf_counter() - started.pop())

    def failed(context: Any) -> None:
        # A failed statement never reaches after_cursor_execute: drop its start time.
        started = context.connection.info.get(_STARTED) if context.connection else None
        if started:
            started.pop()

    event.listen(sync_engine, "before_cursor_execute", before)
    event.listen(sync_engine, "after_cursor_execute", after)
    event.listen(sync_engine, "handle_error", failed)
    _LOGS[sync_engine] = log
    return log


def slow_log_of(engine: AsyncEngine) -> SlowStatementLog | None:
    return _LOGS.get(engine.sync_engine)
