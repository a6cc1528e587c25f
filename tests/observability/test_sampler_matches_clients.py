"""Done-when of the operations issue: with 2 workers under load, the sampler reads the
aggregated histogram of both workers, and its quantiles agree with what the clients measured.

Only what holds on any machine, however loaded, is asserted (a busy 2-core machine once put the
clients' p95 at 0.49 s and a window's p95 at 0.63 s, one bucket apart):

- every request the clients made is counted once, whichever worker served it;
- every sampled quantile of a window of load lies at or above the bucket of the latency the
  server injects (no request can be faster), and at or below the upper bound of the bucket
  holding the slowest latency a client measured (the server's time is part of the client's);
- the requests the sampler counts as slow are at most those the clients saw as slow.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.observability.metrics import HTTP_DURATION_BUCKETS
from tests.observability.test_multiworker import free_port, healthy, wait_for

pytestmark = pytest.mark.slow

TOKEN = "sampler-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SLOW_PATH = "/api/slow-drill"
INJECTED_MS = 300
SLOW_SECONDS = 0.5  # the latency SLO's threshold for this (unmatched) path
SAMPLE_SECONDS = 2
STEP = 1  # series points of one second: each holds at most one sample
SAMPLE_WAIT_SECONDS = 60


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
        FLOW_METRICS_SAMPLE_SECONDS=str(SAMPLE_SECONDS),
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


def series_params(start: datetime, end: datetime) -> dict[str, str | int]:
    return {"start": start.isoformat(), "end": end.isoformat(), "step": STEP}


async def series(client: httpx.AsyncClient, name: str, start: datetime, end: datetime) -> list[Any]:
    response = await client.get(
        f"/api/metrics/{name}/series", headers=AUTH, params=series_params(start, end)
    )
    assert response.status_code == 200, response.text
    return [point for point in response.json()["points"] if point["samples"]]


async def drive_load(base: str, seconds: float, concurrency: int) -> list[float]:
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    # A generous timeout: a request the client gave up on would still be counted by the server.
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:

        async def loop() -> None:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                response = await client.get(SLOW_PATH)
                latencies.append(time.perf_counter() - started)
                assert response.status_code == 404  # the drill path exists only for the fault

        await asyncio.gather(*(loop() for _ in range(concurrency)))
    return latencies


async def wait_for_sample_after(
    client: httpx.AsyncClient, since: datetime, moment: datetime
) -> int:
    """Poll until the sampler wrote a sample taken after `moment`; returns the polls made
    (each is a request the sampler counts too)."""
    polls = 0
    try:
        async with asyncio.timeout(SAMPLE_WAIT_SECONDS):
            while True:
                polls += 1
                points = await series(client, "requests_total_count", since, utcnow())
                if any(datetime.fromisoformat(point["time"]) >= moment for point in points):
                    return polls
                await asyncio.sleep(0.5)
    except TimeoutError:
        pytest.fail(f"no sample after {moment.isoformat()} within {SAMPLE_WAIT_SECONDS} s")


async def test_sampler_counts_and_quantiles_agree_with_the_clients(two_workers: str) -> None:
    base = two_workers
    plan = {"latency_ms": INJECTED_MS, "path_prefix": SLOW_PATH}
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        assert (await client.put("/api/ops/faults", json=plan, headers=AUTH)).status_code == 200
        # The plan is shared: whichever worker answers, it applies.
        for _ in range(4):
            assert (await client.get("/api/ops/faults", headers=AUTH)).json() == {
                "error_rate": 0.0,
                **plan,
            }
        # Those requests land in a sample before the load starts.
        await asyncio.sleep(2 * SAMPLE_SECONDS)
        load_started = utcnow()
        latencies = await drive_load(base, seconds=7, concurrency=8)
        load_ended = utcnow()
        # A sample taken a second after the last response holds every load request.
        polls = await wait_for_sample_after(client, load_started, load_ended + timedelta(seconds=1))
        now = utcnow()
        totals = await series(client, "requests_total_count", load_started, now)
        slow = await series(client, "requests_slow_count", load_started, now)
        p95 = await series(client, "response_time_p95_ms", load_started, load_ended)
        p50 = await series(client, "response_time_p50_ms", load_started, load_ended)

    assert len(latencies) > 50
    counted = sum(point["avg"] * point["samples"] for point in totals)
    # Both workers' requests, each once; the polls after the load may be counted too.
    assert len(latencies) <= counted <= len(latencies) + polls + 1, (counted, len(latencies))

    floor = bucket_of(INJECTED_MS / 1000)[0]
    ceiling = bucket_of(max(latencies))[1]
    # Windows wholly inside the load (the first may hold the setup requests, the polls come
    # after): their quantiles are those of load requests only.
    inside = [
        point
        for points in (p95, p50)
        for point in points
        if load_started + timedelta(seconds=SAMPLE_SECONDS)
        <= datetime.fromisoformat(point["time"])
        <= load_ended - timedelta(seconds=STEP)
    ]
    assert inside, (p95, p50)
    for point in inside:
        assert floor <= point["avg"] / 1000 <= point["max"] / 1000 <= ceiling, (point, ceiling)

    client_slow = sum(1 for latency in latencies if latency > SLOW_SECONDS)
    assert sum(point["avg"] * point["samples"] for point in slow) <= client_slow
