"""The index advisor on realistic volumes: do its indexes make the product's slowest queries
at least 5x faster, and does the database part of `perf analyze` finish in under 10 s?

    make bench-db-advisor            # or: PYTHONPATH=. python benchmarks/db_advisor.py
    python benchmarks/db_advisor.py --events 1000000 --contacts 100000 --messages 1000000 \\
        --jobs 200000 --runs 7

Starts a throw-away PostgreSQL cluster (preloading pg_stat_statements, with HypoPG), migrates
it, removes the indexes the advisor's migrations added (the schema as it was before), seeds it
with generate_series (1 M events, 100 k contacts, 1 M messages, 200 k jobs by default), runs the
product's hot queries (performance/database/hot_queries.py) and then, in the same run:

1. before: each hot query's median time over --runs runs (the baseline);
2. `analyze_database`: the database part of `perf analyze`, timed, and its ranked findings;
3. the advisor on each hot query: HypoPG plan costs, proven on a scratch copy;
4. after: the advised indexes created for real (CREATE INDEX CONCURRENTLY), each query timed
   again, and the ratio to its baseline. The five slowest queries must gain >= 5x.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass
from importlib import import_module

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from tests.performance.database.cluster import statistics_postgres
from tests.performance.database.seeding import Volumes, seed

from intuitivus_flow.kit import migrations
from intuitivus_flow.performance.database import Thresholds, advisor, analyze_database
from intuitivus_flow.performance.database.hot_queries import HOT_QUERIES

# The migrations holding the indexes this benchmark justified, and the table of each.
MIGRATIONS = {
    "intuitivus_flow.migrations.versions.20261207_dbix_advisor_indexes": "events",
    "intuitivus_flow.migrations.versions.20261207_dbwl_inbox_index": "conversations",
    "intuitivus_flow.migrations.versions.20261207_trgm_contact_search": "contacts",
}
TARGET_SPEEDUP = 5.0
TARGET_ANALYZE_SECONDS = 10.0


@dataclass
class Row:
    name: str
    statement: str
    before_ms: float = 0.0
    after_ms: float = 0.0
    migration_ms: float = 0.0
    advice: advisor.Advice | None = None


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def median_ms(connection: AsyncConnection, statement: str, runs: int) -> float:
    """The server's execution time (EXPLAIN ANALYZE), median of `runs` after a warm-up: the
    client's round trip and row transfer are the same before and after an index."""
    return await advisor.timed(connection, statement, runs=runs)


def migration_indexes(key: str = "INDEXES") -> dict[str, tuple[str, str]]:
    """name -> (table, what follows the table in CREATE INDEX) over the advisor's migrations."""
    found: dict[str, tuple[str, str]] = {}
    for path, table in MIGRATIONS.items():
        for name, value in getattr(import_module(path), key, {}).items():
            found[name] = (table, value if isinstance(value, str) else f"({', '.join(value)})")
    return found


async def before_schema(engine: AsyncEngine) -> None:
    """The schema as it was before the advisor's migrations: their indexes out, the replaced
    in (the pg_trgm extension stays: on its own it changes no plan)."""
    async with engine.begin() as connection:
        for name in migration_indexes():
            await connection.execute(text(f"DROP INDEX IF EXISTS {name}"))
        for name, (table, definition) in migration_indexes("REPLACED").items():
            await connection.execute(
                text(f"CREATE INDEX IF NOT EXISTS {name} ON {table} {definition}")
            )


async def run(volumes: Volumes, runs: int) -> int:
    with statistics_postgres(shared_buffers="256MB") as cluster:
        engine = create_async_engine(cluster.url, pool_size=2)
        try:
            return await measure(engine, volumes, runs)
        finally:
            await engine.dispose()


async def measure(engine: AsyncEngine, volumes: Volumes, runs: int) -> int:
    progress("migrating a throw-away cluster")
    await migrations.upgrade(engine)
    await before_schema(engine)
    async with engine.begin() as connection:
        await connection.execute(text("CREATE EXTENSION pg_stat_statements"))
        await connection.execute(text("CREATE EXTENSION hypopg"))
        progress(f"seeding {volumes}")
        started = time.perf_counter()
        await seed(connection, volumes)
    progress(f"seeded in {time.perf_counter() - started:.1f} s")
    rows: list[Row] = []
    async with engine.connect() as connection:
        for query in HOT_QUERIES:
            statement = await advisor.bind(connection, query.sql)
            if statement is not None:
                rows.append(Row(query.name, statement))
        await connection.execute(text("SELECT pg_stat_statements_reset()"))
        await connection.execute(text("SELECT pg_stat_reset()"))
        await connection.commit()
        # The workload pg_stat_statements sees (EXPLAIN ANALYZE runs are not top-level).
        for row in rows:
            for _ in range(runs):
                await connection.execute(text(row.statement))
            await connection.rollback()
        for row in rows:
            row.before_ms = await median_ms(connection, row.statement, runs)
            progress(f"before  {row.name:<26} {row.before_ms:10.2f} ms")
    progress("perf analyze: database part")
    started = time.perf_counter()
    report = await analyze_database(engine, thresholds=Thresholds())
    analyze_seconds = time.perf_counter() - started
    async with engine.connect() as connection:
        for row in rows:
            progress(f"advisor {row.name}")
            query = next(q for q in HOT_QUERIES if q.name == row.name)
            row.advice = await advisor.advise_statement(connection, query.sql, verify=True)
            await connection.commit()
    created: set[str] = set()
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        for row in rows:
            if row.advice is not None and row.advice.candidate.name not in created:
                progress(f"creating {row.advice.candidate.ddl()}")
                await autocommit.execute(text(row.advice.candidate.ddl()))
                created.add(row.advice.candidate.name)
        await autocommit.execute(text("ANALYZE"))
    async with engine.connect() as connection:
        for row in rows:
            row.after_ms = await median_ms(connection, row.statement, runs)
    await migration_schema(engine, created)
    async with engine.connect() as connection:
        for row in rows:
            row.migration_ms = await median_ms(connection, row.statement, runs)
    return report_table(rows, report.findings, analyze_seconds)


async def migration_schema(engine: AsyncEngine, advised: set[str]) -> None:
    """The advisor's indexes out, the migrations' in: what an upgraded instance runs with."""
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        for name in advised:
            await autocommit.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {name}"))
        for name, (table, definition) in migration_indexes().items():
            await autocommit.execute(
                text(f"CREATE INDEX CONCURRENTLY {name} ON {table} {definition}")
            )
        for name in migration_indexes("REPLACED"):
            await autocommit.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {name}"))
        await autocommit.execute(text("ANALYZE"))


def report_table(rows: list[Row], findings: object, analyze_seconds: float) -> int:
    from intuitivus_flow.performance.findings import Finding

    assert isinstance(findings, tuple)
    print("\n## perf analyze, database part")
    print(f"{analyze_seconds:.2f} s (target < {TARGET_ANALYZE_SECONDS:.0f} s)\n")
    print("| rank | severity | code | title |")
    print("|---|---|---|---|")
    for rank, finding in enumerate(findings[:6], 1):
        assert isinstance(finding, Finding)
        print(f"| {rank} | {finding.severity} | {finding.code} | {finding.title} |")
    slowest = sorted(rows, key=lambda r: r.before_ms, reverse=True)[:5]
    print("\n## Hot queries: before and after the advisor's indexes (median ms, same run)\n")
    print("| query | before ms | after ms | speed-up | with the migration ms | speed-up | "
          "plan cost before -> after | scratch ms before -> after | advised index |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---|---|---|")
    for row in sorted(rows, key=lambda r: r.before_ms, reverse=True):
        ratio = row.before_ms / row.after_ms if row.after_ms else float("inf")
        advice = row.advice
        cost = f"{advice.cost_before:.0f} -> {advice.cost_after:.0f}" if advice else "-"
        scratch = (
            f"{advice.ms_before:.2f} -> {advice.ms_after:.2f}"
            if advice and advice.ms_before is not None and advice.ms_after is not None
            else "-"
        )
        index = advice.candidate.ddl() if advice else "none (already served by an index)"
        mark = " *" if row in slowest else ""
        by_migration = row.before_ms / row.migration_ms if row.migration_ms else float("inf")
        print(f"| {row.name}{mark} | {row.before_ms:.2f} | {row.after_ms:.2f} | {ratio:.1f}x | "
              f"{row.migration_ms:.2f} | {by_migration:.1f}x | {cost} | {scratch} | "
              f"`{index}` |")  # fmt: skip
    print("\n(* the five slowest before)")
    met = [r for r in slowest if r.after_ms and r.before_ms / r.after_ms >= TARGET_SPEEDUP]
    print(f"five slowest at >= {TARGET_SPEEDUP:.0f}x: {len(met)}/5; "
          f"analyze under {TARGET_ANALYZE_SECONDS:.0f} s: "
          f"{'yes' if analyze_seconds < TARGET_ANALYZE_SECONDS else 'no'}")  # fmt: skip
    return 0 if len(met) == len(slowest) and analyze_seconds < TARGET_ANALYZE_SECONDS else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    volumes = Volumes(args.events, args.contacts, args.messages, args.jobs)
    sys.exit(asyncio.run(run(volumes, args.runs)))


if __name__ == "__main__":
    main()
