"""SQLite: the slow-statement log this process keeps, and the plans of the product's hot
queries (`EXPLAIN QUERY PLAN`): a full scan of a large table is the missing index."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select, table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from intuitivus_flow.performance.database.hot_queries import HOT_QUERIES, HotQuery, parameter_count
from intuitivus_flow.performance.database.postgres import Thresholds, short
from intuitivus_flow.performance.database.slowlog import SlowStatementLog
from intuitivus_flow.performance.findings import Area, Finding, Severity, Skipped


async def analyze_sqlite(
    engine: AsyncEngine, limits: Thresholds, log: SlowStatementLog | None, *, since: float
) -> tuple[list[Finding], list[Skipped]]:
    findings: list[Finding] = []
    skipped: list[Skipped] = []
    if log is None:
        skipped.append(Skipped(Area.DATABASE, "slow statements not analysed: no slow-statement "
                               "log on this engine (install_slow_log)"))  # fmt: skip
    else:
        findings += slow_statement_findings(log, since=since)
    async with engine.connect() as connection:
        for query in HOT_QUERIES:
            try:
                finding = await _full_scan(connection, query, limits)
            except DBAPIError as error:
                skipped.append(Skipped(Area.DATABASE, f"plan of {query.name}: {error.orig}"))
                continue
            if finding is not None:
                findings.append(finding)
    return findings, skipped


def slow_statement_findings(log: SlowStatementLog, *, since: float) -> list[Finding]:
    entries = log.entries(since=since)
    grouped: dict[str, list[float]] = defaultdict(list)
    for entry in entries:
        grouped[entry.statement].append(entry.seconds)
    total = sum(sum(times) for times in grouped.values()) or 1.0
    findings = []
    for statement, times in grouped.items():
        mean = sum(times) / len(times)
        findings.append(
            Finding(
                area=Area.DATABASE,
                code="db.slow_statement",
                title=f"{len(times)} runs over {log.threshold_seconds * 1000:.0f} ms, "
                f"{mean * 1000:.0f} ms on average",
                severity=Severity.WARNING,
                impact=sum(times) / total,
                evidence={
                    "runs": len(times),
                    "mean_ms": round(mean * 1000, 1),
                    "max_ms": round(max(times) * 1000, 1),
                },
                recommendation="Look at its plan (EXPLAIN QUERY PLAN): a SCAN of a large table "
                "wants an index on the filtered columns",
                subject=short(statement),
            )
        )
    return findings


async def _full_scan(
    connection: AsyncConnection, query: HotQuery, limits: Thresholds
) -> Finding | None:
    # Plans do not depend on the values here (no stat4): every parameter is NULL.
    parameters = {str(n): None for n in range(1, parameter_count(query.sql) + 1)}
    plan = await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + query.sql, parameters)
    details = [str(row[-1]) for row in plan.all()]
    scanned = [d for d in details if d.startswith("SCAN ") and " INDEX" not in d]
    tables = {d.split()[1] for d in scanned}
    if query.table not in tables:
        return None
    count = select(func.count()).select_from(table(query.table))
    rows = (await connection.execute(count)).scalar_one()
    if int(rows) < limits.large_table_rows:
        return None
    return Finding(
        area=Area.DATABASE,
        code="db.missing_index",
        title=f"{query.name} scans all {int(rows):,} rows of {query.table}",
        severity=Severity.WARNING,
        impact=0.5,
        evidence={"rows": int(rows), "plan": "; ".join(details)},
        recommendation=query.index,
        subject=query.name,
    )
