"""Peak memory and time per row of a streamed workspace export, as the workspace grows.

    python benchmarks/export_memory.py [--sizes 1000,10000,50000] [--format jsonl|csv]
                                       [--page-rows 1000] [--database-url URL]

Creates one workspace per size in a fresh database (SQLite in a temporary directory by
default), fills it with that many events (plus its sign-up events), then exports each
workspace through the same code path as `GET /api/data/export`, throwing the bytes away.
Memory is measured with tracemalloc around the export only (Python allocations: rows,
encoded pages, the zip writer); RSS growth from psutil is printed beside it. Flat memory
means the ratio of peak memory stays near 1 while the rows grow 50x; time per row should
stay flat too (keyset pages cost the same at the end of the table as at its start).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
import tracemalloc
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psutil
from sqlalchemy import insert

from intuitivus_flow.auth import service as auth
from intuitivus_flow.config import Settings
from intuitivus_flow.dataport import service as dataport
from intuitivus_flow.dataport.schemas import ExportFormat
from intuitivus_flow.events.models import Event
from intuitivus_flow.kit import migrations
from intuitivus_flow.kit.db import (
    SessionFactory,
    create_engine,
    create_session_factory,
    unit_of_work,
)
from intuitivus_flow.kit.models import utcnow

INSERT_BATCH = 5000


@dataclass(frozen=True)
class Result:
    rows: int
    bytes_out: int
    peak_bytes: int
    rss_growth: int
    seconds: float

    @property
    def us_per_row(self) -> float:
        return self.seconds / self.rows * 1e6


async def make_workspace(sessions: SessionFactory, events: int) -> uuid.UUID:
    async with unit_of_work(sessions) as session:
        user = await auth.create_workspace_with_owner(
            session,
            email=f"bench-{uuid.uuid4().hex[:8]}@example.com",
            password="benchmark password",
            name="Bench",
            workspace_name=f"Bench {events}",
        )
        workspace_id = user.workspace_id
    start = utcnow() - timedelta(days=30)
    for offset in range(0, events, INSERT_BATCH):
        count = min(INSERT_BATCH, events - offset)
        rows = [
            {
                "id": uuid.uuid4(),
                "workspace_id": workspace_id,
                "name": "shop.checkout",
                "source": "client",
                "occurred_at": start + timedelta(seconds=offset + i),
                "received_at": start + timedelta(seconds=offset + i),
                "properties": {"order": offset + i, "total": 19.9, "items": ["a", "b"]},
            }
            for i in range(count)
        ]
        async with unit_of_work(sessions) as session:
            await session.execute(insert(Event), rows)
    return workspace_id


async def _drain(
    sessions: SessionFactory, workspace_id: uuid.UUID, export_format: ExportFormat, page_rows: int
) -> tuple[int, int]:
    """Export the workspace once, throwing the bytes away: (event rows, bytes out)."""
    async with unit_of_work(sessions) as session:
        principal = await dataport.operator_principal(session, workspace_id)
        plan = await dataport.plan_export(session, principal, export_format=export_format)
    rows = size = 0

    def seen(entity: str, written: int) -> None:
        nonlocal rows
        if entity == "events":
            rows = written

    async for chunk in dataport.stream_export(sessions, plan, page_rows=page_rows, progress=seen):
        size += len(chunk)
    return rows, size


async def export_once(
    sessions: SessionFactory, workspace_id: uuid.UUID, export_format: ExportFormat, page_rows: int
) -> Result:
    # Timed without tracemalloc (it slows allocation-heavy code several times over), then
    # measured with it on a second run of the same export.
    gc.collect()
    process = psutil.Process()
    rss_before = process.memory_info().rss
    started = time.perf_counter()
    rows, size = await _drain(sessions, workspace_id, export_format, page_rows)
    seconds = time.perf_counter() - started
    rss_growth = max(0, process.memory_info().rss - rss_before)
    gc.collect()
    tracemalloc.start()
    await _drain(sessions, workspace_id, export_format, page_rows)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return Result(rows, size, peak, rss_growth, seconds)


async def main(args: argparse.Namespace) -> None:
    sizes = [int(size) for size in args.sizes.split(",")]
    export_format = ExportFormat(args.format)
    with tempfile.TemporaryDirectory() as directory:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
        settings = Settings(env="test", data_dir=Path(directory), database_url=url)
        engine = create_engine(settings)
        await migrations.upgrade(engine)
        sessions = create_session_factory(engine)
        try:
            workspaces = {size: await make_workspace(sessions, size) for size in sizes}
            warm = await make_workspace(sessions, 100)  # statement caches, imports
            await export_once(sessions, warm, export_format, args.page_rows)
            results = [
                await export_once(sessions, workspaces[size], export_format, args.page_rows)
                for size in sizes
            ]
        finally:
            await engine.dispose()
    report(results, export_format, args.page_rows, url)


def report(results: list[Result], export_format: ExportFormat, page_rows: int, url: str) -> None:
    base = results[0]
    engine = url.split(":", 1)[0]
    print(f"export format={export_format.value} page_rows={page_rows} database={engine}")
    print(
        f"{'rows':>8} {'out KiB':>9} {'peak KiB':>9} {'peak ratio':>10} {'RSS+ KiB':>9} "
        f"{'seconds':>8} {'us/row':>7} {'us/row ratio':>12}"
    )
    for result in results:
        print(
            f"{result.rows:>8} {result.bytes_out / 1024:>9.0f} {result.peak_bytes / 1024:>9.0f} "
            f"{result.peak_bytes / base.peak_bytes:>10.2f} {result.rss_growth / 1024:>9.0f} "
            f"{result.seconds:>8.2f} {result.us_per_row:>7.1f} "
            f"{result.us_per_row / base.us_per_row:>12.2f}"
        )
    last = results[-1]
    print(
        f"rows x{last.rows / base.rows:.0f}: peak memory x{last.peak_bytes / base.peak_bytes:.2f}, "
        f"time per row x{last.us_per_row / base.us_per_row:.2f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--format", default="jsonl", choices=[f.value for f in ExportFormat])
    parser.add_argument("--page-rows", type=int, default=1000)
    parser.add_argument("--database-url", default=None)
    asyncio.run(main(parser.parse_args()))
