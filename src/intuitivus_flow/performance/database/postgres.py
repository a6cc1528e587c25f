"""PostgreSQL's own statistics: statements, scans, indexes, bloat, transactions and locks.

Every query here reads catalog or statistics views only, so it runs on a production server
without touching tenant data. `pg_stat_statements` counts since its last reset and the table
statistics since the server's; the evidence says so rather than pretending to be a window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from intuitivus_flow.performance.findings import Area, Finding, Severity, Skipped


@dataclass(frozen=True, slots=True)
class Thresholds:
    slow_mean_ms: float = 50.0  # a statement slower than this on average is a bottleneck
    critical_mean_ms: float = 500.0
    large_table_rows: int = 50_000  # sequential scans below this size are cheap
    min_index_bytes: int = 1 << 20  # smaller unused indexes cost nothing worth a finding
    bloat_min_bytes: int = 8 << 20
    bloat_ratio: float = 0.3
    long_transaction_seconds: float = 60.0
    lock_wait_seconds: float = 5.0
    top_statements: int = 10


@dataclass(frozen=True, slots=True)
class Statement:
    queryid: int
    query: str
    calls: int
    total_ms: float
    mean_ms: float
    rows: int
    hit_ratio: float
    share: float  # of all statements' execution time in this database


# The analyser's own catalog queries would otherwise rank among the "top statements".
_OWN = (
    r"pg_stat_|pg_typeof|pg_catalog|pg_class|pg_index|pg_locks|hypopg|information_schema"
    r"|pg_namespace"
)

TOP_STATEMENTS = text(
    r"""
    WITH s AS (
        SELECT s.* FROM pg_stat_statements s
        JOIN pg_database d ON d.oid = s.dbid
        WHERE d.datname = current_database() AND s.toplevel
    ), total AS (SELECT coalesce(sum(total_exec_time), 0) AS ms FROM s)
    SELECT queryid, query, calls, total_exec_time, mean_exec_time, rows,
           shared_blks_hit, shared_blks_read, (SELECT ms FROM total) AS all_ms
    FROM s
    WHERE query ~* '^\s*(select|update|delete|insert|with)\M' AND query !~* :own
    ORDER BY total_exec_time DESC
    LIMIT :n
    """
)


async def has_extension(connection: AsyncConnection, name: str) -> bool:
    found = await connection.execute(
        text("SELECT 1 FROM pg_extension WHERE extname = :name"), {"name": name}
    )
    return found.first() is not None


async def top_statements(connection: AsyncConnection, limit: int) -> list[Statement]:
    rows = (await connection.execute(TOP_STATEMENTS, {"own": _OWN, "n": limit})).all()
    found = []
    for row in rows:
        blocks = int(row.shared_blks_hit) + int(row.shared_blks_read)
        found.append(
            Statement(
                queryid=int(row.queryid),
                query=str(row.query),
                calls=int(row.calls),
                total_ms=float(row.total_exec_time),
                mean_ms=float(row.mean_exec_time),
                rows=int(row.rows),
                hit_ratio=int(row.shared_blks_hit) / blocks if blocks else 1.0,
                share=float(row.total_exec_time) / float(row.all_ms) if row.all_ms else 0.0,
            )
        )
    return found


def statement_severity(statement: Statement, limits: Thresholds) -> Severity:
    if statement.mean_ms >= limits.critical_mean_ms and statement.share >= 0.1:
        return Severity.CRITICAL
    if statement.mean_ms >= limits.slow_mean_ms:
        return Severity.WARNING
    return Severity.INFO


def statement_evidence(statement: Statement) -> dict[str, float | int | str]:
    return {
        "calls": statement.calls,
        "total_ms": round(statement.total_ms, 1),
        "mean_ms": round(statement.mean_ms, 2),
        "rows": statement.rows,
        "shared_hit_ratio": round(statement.hit_ratio, 4),
        "share_of_db_time": round(statement.share, 4),
    }


def short(query: str, width: int = 160) -> str:
    flat = " ".join(query.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def statement_finding(statement: Statement, limits: Thresholds) -> Finding:
    severity = statement_severity(statement, limits)
    recommendation = (
        "Run `intuitivus-flow perf advise` for index candidates; check the plan with "
        "EXPLAIN (ANALYZE, BUFFERS)"
        if severity is not Severity.INFO
        else ""
    )
    if statement.hit_ratio < 0.9 and severity is not Severity.INFO:
        recommendation += (
            f"; only {statement.hit_ratio:.0%} of its pages come from shared buffers: "
            "raise shared_buffers or read fewer pages (an index, fewer columns)"
        )
    return Finding(
        area=Area.DATABASE,
        code="db.slow_statement" if severity is not Severity.INFO else "db.top_statement",
        title=f"{statement.share:.0%} of database time, {statement.mean_ms:.1f} ms per call "
        f"({statement.calls} calls)",
        severity=severity,
        impact=statement.share,
        evidence=statement_evidence(statement),
        recommendation=recommendation,
        subject=short(statement.query),
    )


SEQ_SCANS = text(
    """
    SELECT schemaname, relname, seq_scan, seq_tup_read, coalesce(idx_scan, 0) AS idx_scan,
           n_live_tup, coalesce(idx_tup_fetch, 0) AS idx_tup_fetch
    FROM pg_stat_user_tables
    WHERE n_live_tup >= :rows AND seq_scan > 0
    ORDER BY seq_tup_read DESC
    """
)


async def sequential_scans(connection: AsyncConnection, limits: Thresholds) -> list[Finding]:
    rows = (await connection.execute(SEQ_SCANS, {"rows": limits.large_table_rows})).all()
    total_read = sum(int(r.seq_tup_read) + int(r.idx_tup_fetch) for r in rows) or 1
    findings = []
    for row in rows:
        # A scan or two (a backup, an ANALYZE-like job) is not a pattern; repeated full
        # reads of a large table are.
        if int(row.seq_scan) < 10 or int(row.seq_scan) < int(row.idx_scan) / 10:
            continue
        per_scan = int(row.seq_tup_read) / int(row.seq_scan)
        findings.append(
            Finding(
                area=Area.DATABASE,
                code="db.seq_scan",
                title=f"{row.relname}: {row.seq_scan} sequential scans reading "
                f"{per_scan:,.0f} rows each",
                severity=Severity.WARNING,
                impact=int(row.seq_tup_read) / total_read / 2,
                evidence={
                    "seq_scan": int(row.seq_scan),
                    "seq_tup_read": int(row.seq_tup_read),
                    "idx_scan": int(row.idx_scan),
                    "live_rows": int(row.n_live_tup),
                },
                recommendation=f"Find the statements reading {row.relname} without an index "
                "(the top statements above, `perf advise`) and index their filter columns",
                subject=f"{row.schemaname}.{row.relname}",
            )
        )
    return findings


INDEXES = text(
    """
    SELECT n.nspname AS schema, t.relname AS table_name, i.relname AS index_name,
           x.indisunique OR x.indisprimary AS is_unique, x.indkey::text AS keys,
           coalesce(pg_get_expr(x.indpred, x.indrelid), '') AS predicate,
           coalesce(pg_get_expr(x.indexprs, x.indrelid), '') AS expressions,
           x.indclass::text AS opclasses, pg_relation_size(i.oid) AS bytes,
           coalesce(s.idx_scan, 0) AS scans, pg_get_indexdef(i.oid) AS definition,
           EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid) AS backs_constraint
    FROM pg_index x
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_class t ON t.oid = x.indrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = i.oid
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
      AND n.nspname NOT LIKE 'pg_temp%'
    """
)


async def index_findings(connection: AsyncConnection, limits: Thresholds) -> list[Finding]:
    rows = (await connection.execute(INDEXES)).all()
    findings = [_unused(row) for row in rows if _is_unused(row, limits)]
    by_table: dict[tuple[str, str], list[Any]] = {}
    for row in rows:
        by_table.setdefault((row.schema, row.table_name), []).append(row)
    for indexes in by_table.values():
        findings += _duplicates(indexes)
    return findings


def _is_unused(row: Any, limits: Thresholds) -> bool:
    return (
        int(row.scans) == 0
        and not row.is_unique
        and not row.backs_constraint
        and int(row.bytes) >= limits.min_index_bytes
    )


def _unused(row: Any) -> Finding:
    return Finding(
        area=Area.DATABASE,
        code="db.unused_index",
        title=f"{row.index_name} was never scanned ({int(row.bytes) / 2**20:.1f} MiB)",
        severity=Severity.INFO,
        impact=0.0,
        evidence={"bytes": int(row.bytes), "scans": 0},
        recommendation=f'DROP INDEX CONCURRENTLY "{row.schema}"."{row.index_name}"; (counts '
        "start at the last statistics reset: check a replica's use too before dropping)",
        subject=f"{row.schema}.{row.table_name}",
    )


def _duplicates(indexes: list[Any]) -> list[Finding]:
    """An index whose key columns are a leading prefix of another's (same predicate, same
    operator classes, no expressions) answers nothing the longer one cannot."""
    findings = []
    for short_one in indexes:
        if short_one.is_unique or short_one.expressions:
            continue
        keys = short_one.keys.split()
        classes = short_one.opclasses.split()
        for other in indexes:
            if other is short_one or other.expressions or other.predicate != short_one.predicate:
                continue
            other_keys = other.keys.split()
            same = other_keys == keys
            if same and other.index_name < short_one.index_name and not other.is_unique:
                continue  # an identical pair is reported once, for the later name
            if other_keys[: len(keys)] == keys and other.opclasses.split()[: len(keys)] == classes:
                findings.append(
                    Finding(
                        area=Area.DATABASE,
                        code="db.duplicate_index",
                        title=f"{short_one.index_name} is covered by {other.index_name}",
                        severity=Severity.INFO,
                        impact=0.0,
                        evidence={"bytes": int(short_one.bytes), "covered_by": other.index_name},
                        recommendation=f'DROP INDEX CONCURRENTLY "{short_one.schema}".'
                        f'"{short_one.index_name}"; (every write maintains both)',
                        subject=f"{short_one.schema}.{short_one.table_name}",
                    )
                )
                break
    return findings


TABLE_BLOAT = text(
    """
    SELECT schemaname, relname, n_live_tup, n_dead_tup,
           pg_table_size(relid) AS bytes, last_autovacuum, last_vacuum
    FROM pg_stat_user_tables
    WHERE pg_table_size(relid) >= :bytes AND n_dead_tup > 0
    """
)

# Index bloat: the B-tree's expected size from its row count and key widths (pg_stats), against
# its real size. An estimate (like the widely used check_postgres one): it ignores alignment
# details, so only a large gap is reported.
INDEX_BLOAT = text(
    """
    SELECT n.nspname AS schema, i.relname AS index_name, t.relname AS table_name,
           pg_relation_size(i.oid) AS bytes, i.reltuples,
           coalesce((SELECT sum(s.avg_width) FROM pg_attribute a
                     JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = t.relname
                                     AND s.attname = a.attname
                     WHERE a.attrelid = t.oid AND a.attnum = ANY (x.indkey)), 0) AS key_width
    FROM pg_index x
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_class t ON t.oid = x.indrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    JOIN pg_am am ON am.oid = i.relam AND am.amname = 'btree'
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
      AND pg_relation_size(i.oid) >= :bytes AND i.reltuples > 0
    """
)


async def bloat_findings(connection: AsyncConnection, limits: Thresholds) -> list[Finding]:
    findings = []
    for row in (await connection.execute(TABLE_BLOAT, {"bytes": limits.bloat_min_bytes})).all():
        dead_share = int(row.n_dead_tup) / max(1, int(row.n_live_tup) + int(row.n_dead_tup))
        if dead_share < limits.bloat_ratio:
            continue
        findings.append(
            Finding(
                area=Area.DATABASE,
                code="db.table_bloat",
                title=f"{row.relname}: {dead_share:.0%} of its rows are dead "
                f"(~{int(row.bytes) * dead_share / 2**20:.0f} MiB)",
                severity=Severity.WARNING,
                impact=min(0.5, dead_share / 2),
                evidence={
                    "live_rows": int(row.n_live_tup),
                    "dead_rows": int(row.n_dead_tup),
                    "bytes": int(row.bytes),
                    "last_autovacuum": str(row.last_autovacuum or "never"),
                },
                recommendation=f'VACUUM (ANALYZE) "{row.schemaname}"."{row.relname}"; and lower '
                "its autovacuum_vacuum_scale_factor if it keeps coming back",
                subject=f"{row.schemaname}.{row.relname}",
            )
        )
    rows = (await connection.execute(INDEX_BLOAT, {"bytes": limits.bloat_min_bytes})).all()
    for row in rows:
        # Leaf tuple: 8-byte header + 4-byte line pointer + the keys, pages filled to 90 %.
        expected = float(row.reltuples) * (12 + float(row.key_width)) / 0.9
        waste = 1 - expected / int(row.bytes)
        if waste < max(limits.bloat_ratio, 0.5):
            continue
        findings.append(
            Finding(
                area=Area.DATABASE,
                code="db.index_bloat",
                title=f"{row.index_name}: about {waste:.0%} of its "
                f"{int(row.bytes) / 2**20:.0f} MiB is empty space",
                severity=Severity.INFO,
                impact=0.0,
                evidence={"bytes": int(row.bytes), "expected_bytes": int(expected)},
                recommendation=f'REINDEX INDEX CONCURRENTLY "{row.schema}"."{row.index_name}";',
                subject=f"{row.schema}.{row.table_name}",
            )
        )
    return findings


ACTIVITY = text(
    """
    SELECT a.pid, a.state, a.wait_event_type, left(a.query, 300) AS query,
           extract(epoch FROM now() - a.xact_start) AS xact_seconds,
           extract(epoch FROM now() - a.state_change) AS state_seconds,
           pg_blocking_pids(a.pid) AS blockers
    FROM pg_stat_activity a
    WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
      AND a.backend_type = 'client backend' AND a.xact_start IS NOT NULL
    """
)


async def activity_findings(connection: AsyncConnection, limits: Thresholds) -> list[Finding]:
    findings = []
    for row in (await connection.execute(ACTIVITY)).all():
        blockers = list(row.blockers or [])
        if row.wait_event_type == "Lock" and blockers:
            waited = float(row.state_seconds or 0)
            if waited >= limits.lock_wait_seconds:
                findings.append(_lock_wait(row, blockers, waited))
        xact = float(row.xact_seconds or 0)
        if xact >= limits.long_transaction_seconds:
            idle = row.state == "idle in transaction"
            findings.append(
                Finding(
                    area=Area.DATABASE,
                    code="db.long_transaction",
                    title=f"transaction of pid {row.pid} open for {xact:.0f} s ({row.state})",
                    severity=Severity.CRITICAL if idle else Severity.WARNING,
                    impact=min(1.0, xact / 3600),
                    evidence={
                        "pid": int(row.pid),
                        "seconds": round(xact, 1),
                        "state": str(row.state),
                    },
                    recommendation=(
                        "It holds its snapshot (vacuum cannot clean behind it) and its locks: "
                        f"end it with SELECT pg_terminate_backend({row.pid}); and set "
                        "idle_in_transaction_session_timeout"
                        if idle
                        else "Split the work into shorter transactions; the oldest open "
                        "transaction holds back vacuum on every table"
                    ),
                    subject=short(str(row.query or "")),
                )
            )
    return findings


def _lock_wait(row: Any, blockers: list[int], waited: float) -> Finding:
    return Finding(
        area=Area.DATABASE,
        code="db.lock_wait",
        title=f"pid {row.pid} has waited {waited:.0f} s for a lock held by {blockers}",
        severity=Severity.CRITICAL,
        impact=min(1.0, waited / 60),
        evidence={
            "pid": int(row.pid),
            "seconds": round(waited, 1),
            "blocked_by": ",".join(map(str, blockers)),
        },
        recommendation=f"Look at what pid {blockers[0]} runs (pg_stat_activity); keep "
        "transactions that take row locks short and set lock_timeout for interactive work",
        subject=short(str(row.query or "")),
    )


async def statements_or_skip(
    connection: AsyncConnection, limits: Thresholds
) -> tuple[list[Statement], list[Skipped]]:
    if not await has_extension(connection, "pg_stat_statements"):
        return [], [Skipped(Area.DATABASE, _NO_PGSS)]
    try:
        async with connection.begin_nested():
            return await top_statements(connection, limits.top_statements), []
    except DBAPIError:  # created but not preloaded: the view raises
        return [], [Skipped(Area.DATABASE, _NO_PGSS)]


_NO_PGSS = (
    "top statements not analysed: pg_stat_statements is not available (add it to "
    "shared_preload_libraries, restart, then CREATE EXTENSION pg_stat_statements)"
)
