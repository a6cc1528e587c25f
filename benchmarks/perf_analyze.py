"""`perf analyze` on a normal instance: time per area against the 10 s target, and what the
compression it recommended changes (page weight, and CPU per API request on the hot path).

    python benchmarks/perf_analyze.py [--database-url URL] [--requests 300]

Builds the app in-process on a fresh SQLite file (or the given database, which must be empty
and is migrated), with the demo workspace and an operator, sends `--requests` API requests,
then runs the full analysis as the Performance page does and prints:

1. seconds per area and in total (target: under 10 s);
2. bytes sent per page, page plus its CSS and JS, with compression off (the baseline) and on;
3. CPU per `GET /api/auth/me` with the compression middleware installed and without it (the
   API passes through it; the ratio should stay about 1).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from intuitivus_flow.app import create_app
from intuitivus_flow.config import Settings
from intuitivus_flow.kit import migrations
from intuitivus_flow.observability.install import Telemetry
from intuitivus_flow.observability.metrics import FlowMetrics
from intuitivus_flow.performance.analyze import analyze
from intuitivus_flow.performance.findings import Area, AreaReport
from intuitivus_flow.performance.web import SIGNED_IN_PAGES, analyze_web
from intuitivus_flow.web.performance_pages import instance_for, operator_pages

PASSWORD = "benchmark password"
TARGET_SECONDS = 10.0


def build(data_dir: Path, url: str, *, compression: bool) -> Any:
    settings = Settings(
        env="test",
        data_dir=data_dir,
        database_url=url,
        seed_demo=True,
        http_compression=compression,
    )
    return create_app(settings, telemetry=Telemetry(metrics=FlowMetrics(CollectorRegistry())))


async def traffic(app: Any, requests: int) -> dict[str, str]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        registered = await client.post(
            "/api/auth/register",
            json={"email": "op@example.com", "password": PASSWORD, "workspace_name": "Ops"},
        )
        registered.raise_for_status()
        headers = {"Authorization": f"Bearer {registered.json()['access_token']}"}
        paths = ("/api/auth/me", "/api/dashboard", "/api/contacts", "/api/agents")
        for index in range(requests):
            (await client.get(paths[index % len(paths)], headers=headers)).raise_for_status()
    return headers


async def timed_analysis(app: Any) -> list[tuple[str, float, int]]:
    started: dict[Area, float] = {}
    rows: list[tuple[str, float, int]] = []

    def progress(area: Area, done: AreaReport | None) -> None:
        if done is None:
            started[area] = time.perf_counter()
            print(f"  analysing {area.value}...", file=sys.stderr)
        else:
            rows.append((area.value, time.perf_counter() - started[area], len(done.findings)))

    began = time.perf_counter()
    async with operator_pages(app) as pages:
        instance = instance_for(app, pages=pages, signed_in=True)
        await analyze(instance, window=timedelta(hours=1), progress=progress)
    rows.append(("total", time.perf_counter() - began, sum(r[2] for r in rows)))
    return rows


async def page_weights(app: Any) -> dict[str, int]:
    async with operator_pages(app) as pages:
        report = await analyze_web(pages, signed_in=True)
    table = report.tables[0]
    sent = table.columns.index("sent")
    return {str(row[0]): int(row[sent]) for row in table.rows}


async def cpu_per_request(app: Any, headers: dict[str, str], requests: int) -> float:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for _ in range(20):  # warm caches and code paths
            await client.get("/api/auth/me", headers=headers)
        started = time.process_time()
        for _ in range(requests):
            await client.get("/api/auth/me", headers={**headers, "Accept-Encoding": "gzip"})
        return (time.process_time() - started) / requests * 1000


async def main(database_url: str | None, requests: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        data_dir = Path(directory)
        url = database_url or f"sqlite+aiosqlite:///{data_dir / 'bench.db'}"
        plain, compressed = (
            build(data_dir, url, compression=False),
            build(data_dir, url, compression=True),
        )
        await migrations.upgrade(compressed.state.context.engine)
        print(f"seeding and sending {requests} API requests...", file=sys.stderr)
        headers = await traffic(compressed, requests)
        areas = await timed_analysis(compressed)
        weights_off, weights_on = await page_weights(plain), await page_weights(compressed)
        cpu_off = await cpu_per_request(plain, headers, requests)
        cpu_on = await cpu_per_request(compressed, headers, requests)
        for app in (plain, compressed):
            await app.state.context.close()
    engine = url.split(":", 1)[0]
    print(f"\n1. perf analyze on {engine} (target: total under {TARGET_SECONDS:.0f} s)")
    print(f"{'area':<12}{'seconds':>10}{'findings':>10}")
    for area, seconds, findings in areas:
        print(f"{area:<12}{seconds:>10.2f}{findings:>10}")
    print("\n2. bytes sent per page (page + CSS + JS): compression off (baseline) vs on")
    print(f"{'page':<14}{'off':>10}{'on':>10}{'off/on':>9}")
    for page in SIGNED_IN_PAGES:
        off, on = weights_off.get(page, 0), weights_on.get(page, 0)
        print(f"{page:<14}{off:>10}{on:>10}{off / on if on else 0:>9.2f}")
    print("\n3. CPU per GET /api/auth/me (ms): without the middleware (baseline) vs with it")
    print(f"{'without':>10}{'with':>10}{'with/without':>14}")
    print(f"{cpu_off:>10.3f}{cpu_on:>10.3f}{cpu_on / cpu_off:>14.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="an empty database (migrated here)")
    parser.add_argument("--requests", type=int, default=300)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.database_url, arguments.requests))
