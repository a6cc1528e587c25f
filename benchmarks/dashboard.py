"""Latency of `GET /api/dashboard` under concurrency, cached and uncached, on a real server.

    python benchmarks/dashboard.py [--requests 2000] [--concurrency 50] [--database-url URL]

Starts `intuitivus-flow serve` on a loopback port with a fresh data directory (SQLite by
default), seeds one workspace with agents, tasks, LLM usage and events, then sends the same
number of requests in two modes from `--concurrency` concurrent clients:

* uncached: `Cache-Control: no-cache`, every request recomputes the figures (the baseline);
* cached: the normal path, served from the per-workspace cache until a write.

Prints p50/p95/p99 latency, throughput and the ratios cached/uncached. Traffic stays on
127.0.0.1, is bounded by --requests, and the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

PASSWORD = "benchmark password"
AGENTS = 5  # the free plan's limit


@dataclass(frozen=True)
class Result:
    mode: str
    latencies_ms: list[float]
    seconds: float
    hits: int  # responses served from the cache (X-Cache: hit)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(data_dir: Path, port: int, database_url: str | None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOW_")}
    env.update(
        {
            "FLOW_DATA_DIR": str(data_dir),
            "FLOW_ENV": "local",
            "FLOW_SEED_DEMO": "false",
            "FLOW_LOG_LEVEL": "WARNING",
            "FLOW_REGISTER_MAX_PER_CLIENT": "1000",
            "FLOW_METRICS_SAMPLE_SECONDS": "0",
            "FLOW_ALERT_EVALUATION_SECONDS": "0",
        }
    )
    if database_url:
        env["FLOW_DATABASE_URL"] = database_url
    return subprocess.Popen(
        [sys.executable, "-m", "intuitivus_flow", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def wait_healthy(base: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                if (await client.get(f"{base}/health")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("the server did not start")


async def seed(base: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        registered = await client.post(
            "/api/auth/register",
            json={"email": "bench@example.com", "password": PASSWORD, "workspace_name": "Bench"},
        )
        registered.raise_for_status()
        headers = {"Authorization": f"Bearer {registered.json()['access_token']}"}
        agent_ids = []
        for index in range(AGENTS):
            agent = await client.post(
                "/api/agents", headers=headers, json={"name": f"Agent {index}", "role": "Benchmark"}
            )
            agent_ids.append(agent.json()["id"])
        for index in range(200):
            await client.post(
                f"/api/agents/{agent_ids[index % AGENTS]}/tasks",
                headers=headers,
                json={"prompt": f"task {index}"},
            )
        await client.post(
            "/api/events",
            headers=headers,
            json={
                "events": [{"name": "ui.page_viewed", "properties": {"n": n}} for n in range(100)]
            },
        )
        # Let the embedded worker answer the tasks (offline provider) before measuring.
        for _ in range(300):
            stats = (
                await client.get("/api/dashboard", headers={**headers, "Cache-Control": "no-cache"})
            ).json()
            if stats["tasks_last_24h"]["in_progress"] == 0:
                break
            await asyncio.sleep(0.2)
        return headers


async def measure(
    base: str, headers: dict[str, str], mode: str, requests: int, concurrency: int
) -> Result:
    request_headers = dict(headers)
    if mode == "uncached":
        request_headers["Cache-Control"] = "no-cache"
    latencies: list[float] = []
    hits = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(requests):
        queue.put_nowait(index)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal hits
        while not queue.empty():
            queue.get_nowait()
            started = time.perf_counter()
            response = await client.get("/api/dashboard", headers=request_headers)
            latencies.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            hits += response.headers.get("x-cache") == "hit"

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        await client.get("/api/dashboard", headers=request_headers)  # warm the path
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return Result(mode, latencies, elapsed, hits)


def print_table(results: list[Result], concurrency: int) -> None:
    print(f"\nGET /api/dashboard, {concurrency} concurrent clients, loopback, one server process")
    header = (
        f"{'mode':<10}{'requests':>10}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}"
        f"{'mean ms':>10}{'req/s':>10}{'hits':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.mode:<10}{len(r.latencies_ms):>10}{r.percentile(50):>10.1f}"
            f"{r.percentile(95):>10.1f}{r.percentile(99):>10.1f}"
            f"{statistics.fmean(r.latencies_ms):>10.1f}{r.rps:>10.0f}"
            f"{r.hits / len(r.latencies_ms):>8.0%}"
        )
    base, fast = results[0], results[1]
    print(
        f"\ncached vs uncached: p95 {base.percentile(95) / fast.percentile(95):.1f}x lower, "
        f"throughput {fast.rps / base.rps:.1f}x higher"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument(
        "--database-url",
        default=None,
        help="e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/bench",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(Path(tmp), port, args.database_url)
        try:
            await wait_healthy(base)
            print(f"seeding: {AGENTS} agents, 200 tasks, 100 events ...", flush=True)
            headers = await seed(base)
            results = []
            for mode in ("uncached", "cached"):
                print(f"measuring {mode}: {args.requests} requests ...", flush=True)
                results.append(await measure(base, headers, mode, args.requests, args.concurrency))
            print_table(results, args.concurrency)
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    asyncio.run(main())
