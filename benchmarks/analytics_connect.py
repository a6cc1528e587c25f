"""What a connection per operation costs the embedded analytics store (DuckDB), which needs it
so that several processes (web workers, the job worker) can share one file.

    .venv/bin/python benchmarks/analytics_connect.py [--events 200000] [--repeat 40]

Three ways to run the same statement, each measured in this run: a connection kept for the
process (the baseline: one process only, it holds the file lock for good), a new DuckDB
connection per operation (a new database instance each time), and what `DuckDBStore` does:
one in-memory instance kept, the file ATTACHed per operation (READ_ONLY for reads) and
DETACHed after. Medians and minimums of wall time, and CPU time, in ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from intuitivus_flow.analytics.store.embedded import DuckDBStore

WORKSPACE = uuid.UUID(int=1)


def measure(work: Callable[[], object], repeat: int) -> tuple[float, float, float]:
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return statistics.median(walls), min(walls), statistics.median(cpus)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args()
    n = args.events
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="flow-analytics-connect-") as scratch:
        path = f"{scratch}/events.duckdb"
        store = DuckDBStore(path)
        store.migrate()
        print(f"loading {n:,} events ...", flush=True)
        stamps = pa.array([now] * n, pa.timestamp("us", tz="UTC"))
        store.insert_events(
            pa.table(
                {
                    "workspace_id": [str(WORKSPACE)] * n,
                    "person_id": [f"p{i % 5000}" for i in range(n)],
                    "event": [f"e{i % 5}" for i in range(n)],
                    "timestamp": stamps,
                    "properties": ["{}"] * n,
                    "message_id": [str(i) for i in range(n)],
                    "source": ["collect"] * n,
                    "received_at": stamps,
                }
            )
        )
        query = "SELECT count(*) FROM {events} WHERE event = 'e1'"
        rendered = store.render(WORKSPACE, query)
        aliases = "SELECT count(*) FROM person_aliases"  # what `{events}` looks up first
        write = "INSERT INTO copy_watermarks VALUES ('bench', now()::TIMESTAMP, now()::TIMESTAMP)"

        def per_connection(statements: list[str], read_only: bool) -> None:
            connection = duckdb.connect(path, read_only=read_only)
            for statement in statements:
                connection.execute(statement).fetchall()
            connection.close()

        rows: list[tuple[str, tuple[float, float, float]]] = []
        print("measuring ...", flush=True)
        kept = duckdb.connect(path)
        rows.append(
            (
                "query, kept connection (baseline)",
                measure(
                    lambda: [kept.execute(s).fetchall() for s in (aliases, rendered)], args.repeat
                ),
            )
        )
        rows.append(
            ("write, kept connection (baseline)", measure(lambda: kept.execute(write), args.repeat))
        )
        kept.close()
        rows.append(
            (
                "query, new connection per op",
                measure(lambda: per_connection([aliases, rendered], True), args.repeat),
            )
        )
        rows.append(
            (
                "write, new connection per op",
                measure(lambda: per_connection([write], False), args.repeat),
            )
        )
        rows.append(
            (
                "query, DuckDBStore (attach per op)",
                measure(lambda: store.query(WORKSPACE, query), args.repeat),
            )
        )
        rows.append(
            (
                "write, DuckDBStore (attach per op)",
                measure(lambda: store.execute(write), args.repeat),
            )
        )
        store.close()

    base = {"query": rows[0][1][0], "write": rows[1][1][0]}
    print(f"\n{'operation':<38}{'median ms':>10}{'min ms':>9}{'cpu ms':>9}{'x baseline':>12}")
    for label, (median, least, cpu) in rows:
        ratio = median / base[label.split(",")[0]]
        print(f"{label:<38}{median:>10.1f}{least:>9.1f}{cpu:>9.1f}{ratio:>12.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
