"""Done-when of the operations issue: with 2 workers under load, the sampler's p95 (from the
aggregated histogram) matches the p95 the clients measured, within one histogram bucket."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.observability.metrics import HTTP_DURATION_BUCKETS
from tests.observability.test_multiworker import free_port, healthy, wait_for

TOKEN = "sampler-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SLOW_PATH = "/api/slow-drill"
INJECTED_MS = 300


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOW_", "OTEL_"))}
    env.update(
        FLOW_DATA_DIR=str(tmp_path),
        FLOW_ENV="test",
        FLOW_SEED_DEMO="false",
        FLOW_FAULT_INJECTION="true",
        FLOW_METRICS_TOKEN=TOKEN,
        FLOW_METRICS_SAMPLE_SECONDS="2",
        FLOW_ALERT_EVALUATION_SECONDS="0",
        FLOW_LOG_LEVEL="WARNING",
    )
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "intuitivus_flow",
                "serve",
                "--workers",
                "2",
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        master = psutil.Process(process.pid)
        wait_for(lambda: healthy(base) and len(master.children()) == 2, log, "2 healthy workers")
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def bucket_of(seconds: float) -> tuple[float, float]:
    lower = 0.0
    for upper in HTTP_DURATION_BUCKETS:
        if seconds <= upper:
            return lower, upper
        lower = upper
    return lower, float("inf")


async def drive_load(base: str, seconds: float, concurrency: int) -> list[float]:
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:

        async def loop() -> None:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                await client.get(SLOW_PATH)
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(loop() for _ in range(concurrency)))
    return latencies


async def test_sampler_p95_matches_client_p95_within_a_bucket(two_workers: str) -> None:
    base = two_workers
    plan = {"latency_ms": INJECTED_MS, "path_prefix": SLOW_PATH}
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        assert (await client.put("/api/ops/faults", json=plan, headers=AUTH)).status_code == 200
        # The plan is shared: whichever worker answers, it applies.
        for _ in range(4):
            assert (await client.get("/api/ops/faults", headers=AUTH)).json() == {
                "error_rate": 0.0,
                **plan,
            }
    started = utcnow()
    latencies = await drive_load(base, seconds=7, concurrency=8)
    await asyncio.sleep(3)  # let a sample cover the end of the load
    latencies.sort()
    client_p95 = latencies[int(0.95 * (len(latencies) - 1))]
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        series = (
            await client.get(
                "/api/metrics/response_time_p95_ms/series",
                headers=AUTH,
                params={
                    "start": started.isoformat(),
                    "end": utcnow().isoformat(),
                    "step": 2,
                },
            )
        ).json()
    sampled = sorted(point["max"] / 1000 for point in series["points"] if point["samples"])
    assert sampled, series
    # The typical window, not the worst: on a busy machine one 2 s window can catch a stall
    # the clients' whole-run p95 dilutes.
    server_p95 = sampled[len(sampled) // 2]
    assert len(latencies) > 50
    assert bucket_of(server_p95) == bucket_of(client_p95), (server_p95, client_p95)
