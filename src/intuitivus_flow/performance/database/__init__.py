"""The database area of `perf analyze` (issue 18): statements, indexes, bloat, pool, locks.

`analyze_database` is the one entry point the orchestrator calls. It reads PostgreSQL's
statistics views (and `pg_stat_statements` when the server preloads it) or, on SQLite, the
slow-statement log and `EXPLAIN QUERY PLAN` of the product's hot queries; what it cannot see it
reports as `Skipped`. `advisor.py` proves index candidates with HypoPG (`perf advise`).
"""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from intuitivus_flow.observability.metrics import FlowMetrics
from intuitivus_flow.performance.database.pool import analyze_pool
from intuitivus_flow.performance.database.postgres import Thresholds
from intuitivus_flow.performance.database.slowlog import (
    SlowStatementLog,
    install_slow_log,
    slow_log_of,
)
from intuitivus_flow.performance.findings import Area, AreaReport, Finding, Skipped, ranked

__all__ = [
    "SlowStatementLog",
    "Thresholds",
    "analyze_database",
    "install_slow_log",
]


async def analyze_database(
    engine: AsyncEngine,
    *,
    window: timedelta = timedelta(hours=1),
    metrics: FlowMetrics | None = None,
    thresholds: Thresholds | None = None,
    advise: bool = True,
) -> AreaReport:
    """Ranked database findings of the instance behind `engine`.

    `window` bounds what this process recorded itself (the SQLite slow-statement log); the
    server's statistics count since their last reset. `metrics` carries the pool wait
    histogram. `advise` tries index candidates for slow statements (HypoPG when installed;
    only hypothetical indexes, nothing is created on the server).
    """
    limits = thresholds or Thresholds()
    findings: list[Finding] = []
    skipped: list[Skipped] = []
    if engine.dialect.name == "postgresql":
        from intuitivus_flow.performance.database.analysis import analyze_postgres

        found, missed = await analyze_postgres(engine, limits, advise=advise)
    else:
        from intuitivus_flow.performance.database.sqlite import analyze_sqlite

        since = time.time() - window.total_seconds()
        found, missed = await analyze_sqlite(engine, limits, slow_log_of(engine), since=since)
    findings += found
    skipped += missed
    found, missed = analyze_pool(engine, metrics)
    findings += found
    skipped += missed
    return AreaReport(Area.DATABASE, tuple(ranked(findings)), tuple(skipped))
