"""How long a job waits for an idle worker: LISTEN/NOTIFY wake-ups vs polling alone.

    python benchmarks/job_wakeup.py [--jobs 30] [--poll 1.0]

On a throw-away database of the local PostgreSQL server (FLOW_TEST_PG_HOST/PORT/USER, as the
tests use), one worker with the product's wake-ups and one without (the baseline: polling
every `--poll` seconds, the product's default) each run `--jobs` jobs enqueued one at a time
at random moments while the worker is idle. The wait is from the enqueuing commit to the
handler's start. Prints the median and 95th percentile of each and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory

import asyncpg  # type: ignore[import-untyped]

import intuitivus_flow.models  # noqa: F401 - foreign keys need every table mapped
from intuitivus_flow.config import Settings
from intuitivus_flow.context import AppContext
from intuitivus_flow.jobs import service as jobs
from intuitivus_flow.jobs.context import JobContext
from intuitivus_flow.jobs.registry import TaskList, TaskRegistry
from intuitivus_flow.kit import migrations
from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.task_registry import worker_for

HOST = os.environ.get("FLOW_TEST_PG_HOST", "127.0.0.1")
PORT = int(os.environ.get("FLOW_TEST_PG_PORT", "5432"))
USER = os.environ.get("FLOW_TEST_PG_USER", "postgres")


async def admin(sql: str) -> None:
    connection = await asyncpg.connect(host=HOST, port=PORT, user=USER, database="postgres")
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def waits(context: AppContext, *, listen: bool, count: int, poll: float) -> list[float]:
    started: asyncio.Queue[float] = asyncio.Queue()
    tasks = TaskList("bench")

    @tasks.task("bench.wake")
    async def wake(job: JobContext) -> None:
        started.put_nowait(time.perf_counter())

    options = {} if listen else {"wakeups": None}
    worker = worker_for(context, tasks=TaskRegistry.of(tasks), poll_interval=poll, **options)
    running = asyncio.create_task(worker.run())
    if worker.wakeups is not None:
        await asyncio.wait_for(worker.wakeups.listening.wait(), timeout=30)  # type: ignore[attr-defined]
    result = []
    try:
        for _ in range(count):
            await asyncio.sleep(random.uniform(0.2, poll + 0.2))
            async with unit_of_work(context.sessions) as session:
                await jobs.enqueue(session, kind="bench.wake", payload={})
            committed = time.perf_counter()
            result.append(await asyncio.wait_for(started.get(), timeout=poll + 30) - committed)
    finally:
        worker.stop()
        await running
    return result


def summary(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.95) - 1)]


async def main(count: int, poll: float) -> None:
    name = f"bench_wakeup_{uuid.uuid4().hex[:8]}"
    await admin(f'CREATE DATABASE "{name}"')
    try:
        with TemporaryDirectory() as data_dir:
            settings = Settings(
                env="test",
                data_dir=Path(data_dir),
                database_url=f"postgresql+asyncpg://{USER}@{HOST}:{PORT}/{name}",
                seed_demo=False,
            )
            context = AppContext.build(settings)
            try:
                await migrations.upgrade(context.engine)
                polled = await waits(context, listen=False, count=count, poll=poll)
                woken = await waits(context, listen=True, count=count, poll=poll)
            finally:
                await context.close()
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    (p50, p95), (w50, w95) = summary(polled), summary(woken)
    print(f"{count} jobs each, poll interval {poll:.1f} s, PostgreSQL")
    print(f"{'':24}{'median ms':>12}{'p95 ms':>12}")
    print(f"{'polling only (baseline)':24}{p50 * 1000:>12.1f}{p95 * 1000:>12.1f}")
    print(f"{'LISTEN/NOTIFY':24}{w50 * 1000:>12.1f}{w95 * 1000:>12.1f}")
    print(f"{'ratio (baseline/wake-up)':24}{p50 / w50:>12.1f}{p95 / w95:>12.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--poll", type=float, default=1.0)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.jobs, arguments.poll))
