"""Restore time (RTO) of a database with 1 million event rows: parallel `pg_restore -j N`
against a single-job restore of the same dump, in the same run.

    python benchmarks/restore.py [--rows 1000000] [--jobs 4] [--repeat 2] [--pg-url URL]

Creates a scratch database on the PostgreSQL server (default: the test server,
postgres@127.0.0.1:5432), migrates it, fills `events` with --rows rows (generate_series, one
workspace), takes a backup with `intuitivus-flow`'s backup service (pg_dump -Fc under an
exported snapshot, with the manifest's counts and checksums), then restores the dump into
fresh scratch databases alternately with one job and with --jobs jobs, --repeat times each,
and finally runs the full restore drill (restore + manifest comparison + migrations check +
invariants) for the end-to-end RTO. Every scratch database is dropped at the end.

Parallel restore splits the work by object: table data, then each index and constraint as
its own job. Most of the 1M rows sit in one table whose data one job loads; the speed-up comes
from building that table's indexes (primary key and two composite indexes) side by side, and
is bounded by the cores the server has.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import text

from intuitivus_flow.backup import service
from intuitivus_flow.backup.databases import PostgresServer
from intuitivus_flow.backup.store import LocalStore
from intuitivus_flow.config import Settings
from intuitivus_flow.kit import migrations

FILL = """
INSERT INTO events (id, workspace_id, user_id, name, source, occurred_at, received_at, properties)
SELECT gen_random_uuid(), :workspace, NULL, 'event.' || (n % 40), 'server',
       now() - (n || ' seconds')::interval, now() - (n || ' seconds')::interval,
       jsonb_build_object('n', n, 'plan', CASE WHEN n % 3 = 0 THEN 'pro' ELSE 'free' END)
FROM generate_series(1, :rows) AS n
"""


async def fill(server: PostgresServer, database: str, rows: int) -> None:
    engine = server.engine(database)
    try:
        await migrations.upgrade(engine)
        workspace = uuid.uuid4()
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO workspaces (id, name, created_at) VALUES (:id, 'Benchmark', now())"
                ),
                {"id": workspace},
            )
            await connection.execute(text(FILL), {"workspace": workspace, "rows": rows})
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("VACUUM ANALYZE events"))
    finally:
        await engine.dispose()


async def timed_restore(server: PostgresServer, payload: Path, jobs: int) -> float:
    scratch = f"flow_bench_restore_{uuid.uuid4().hex[:8]}"
    await server.create_database(scratch)
    try:
        started = time.perf_counter()
        await server.restore(payload, scratch, jobs=jobs)
        return time.perf_counter() - started
    finally:
        await server.drop_database(scratch)


async def run(args: argparse.Namespace) -> None:
    source = f"flow_bench_source_{uuid.uuid4().hex[:8]}"
    server = PostgresServer.from_url(f"{args.pg_url.rstrip('/')}/{source}")
    await server.create_database(source)
    try:
        with tempfile.TemporaryDirectory(prefix="flow-bench-restore-") as work:
            root = Path(work)
            settings = Settings(
                env="test",
                data_dir=root,
                database_url=str(server.url.render_as_string(hide_password=False)),
                backup_dir=root / "backups",
                backup_restore_jobs=args.jobs,
            )
            started = time.perf_counter()
            await fill(server, source, args.rows)
            print(f"filled {args.rows} events in {time.perf_counter() - started:.1f} s")
            store = LocalStore(root / "backups")
            created = await service.create_backup(settings, store)
            size_mb = created.manifest.payload_bytes / 1e6
            print(f"backup {created.name}: {size_mb:.1f} MB dump in {created.seconds:.1f} s")

            payload = root / "payload.pgdump"
            from intuitivus_flow.backup import archive

            archive.extract_payload(store.fetch(created.name), created.manifest, root)
            (root / created.manifest.payload_name).rename(payload)
            timings: dict[int, list[float]] = {1: [], args.jobs: []}
            for _ in range(args.repeat):
                for jobs in (1, args.jobs):
                    timings[jobs].append(await timed_restore(server, payload, jobs))
            drill = await service.run_drill(settings, store)
    finally:
        await server.drop_database(source)

    single = statistics.median(timings[1])
    print()
    print(f"pg_restore of {args.rows} event rows, {os.cpu_count()} CPUs, median of {args.repeat}")
    print(f"{'jobs':>6} {'restore s':>10} {'runs':>24} {'speed-up':>9}")
    for jobs, values in timings.items():
        median = statistics.median(values)
        runs = ", ".join(f"{value:.1f}" for value in values)
        print(f"{jobs:>6} {median:>10.2f} {runs:>24} {single / median:>8.2f}x")
    print()
    verdict = "passed" if drill.ok else f"FAILED: {drill.problems}"
    print(
        f"drill (jobs={args.jobs}): RTO {drill.restore_seconds:.1f} s to a restored database, "
        f"{drill.rows} rows checked against the manifest, {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("FLOW_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432"),
        help="Server URL without a database name (scratch databases are created there).",
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
