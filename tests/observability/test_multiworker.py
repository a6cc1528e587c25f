"""`serve --workers 2` as a real process: counters aggregate across workers, never go
backwards, survive a worker killed with SIGKILL, and each worker exports its own traces."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.slow

LOAD_ROUTE = "/api/auth/me"  # answers 401 without touching the database: cheap and countable
CONCURRENCY = 20
Series = tuple[str, tuple[tuple[str, str], ...]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OtlpReceiver(ThreadingHTTPServer):
    """Accepts OTLP/HTTP trace exports and keeps their bodies."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        super().__init__(("127.0.0.1", 0), _OtlpHandler)


class _OtlpHandler(BaseHTTPRequestHandler):
    server: OtlpReceiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path == "/v1/traces":
            self.server.bodies.append(body)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.shutdown()
    receiver.server_close()


@dataclass
class Server:
    base: str
    master: psutil.Process
    log: Path


@pytest.fixture
def server(tmp_path: Path, otlp: OtlpReceiver) -> Iterator[Server]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOW_", "OTEL_"))}
    env.update(
        FLOW_DATA_DIR=str(tmp_path),
        FLOW_ENV="test",
        FLOW_SEED_DEMO="false",
        FLOW_TRACING_ENABLED="true",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{otlp.server_address[1]}",
        OTEL_BSP_SCHEDULE_DELAY="200",
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
        yield Server(base, master, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for(condition: Callable[[], bool], log: Path, what: str, timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"no {what} within {timeout} s:\n{log.read_text()[-3000:]}")


def counter_values(text: str) -> dict[Series, float]:
    """Every sample of every counter and histogram (all of them must only grow)."""
    values: dict[Series, float] = {}
    for family in text_string_to_metric_families(text):
        if family.type not in {"counter", "histogram"}:
            continue
        for s in family.samples:
            values[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return values


def load_count(values: dict[Series, float]) -> float:
    key = (
        "flow_http_request_duration_seconds_count",
        (("method", "GET"), ("route", LOAD_ROUTE), ("status_class", "4xx")),
    )
    return values.get(key, 0.0)


async def load_and_scrape(base: str, requests: int) -> list[dict[Series, float]]:
    """`requests` concurrent GETs (at most CONCURRENCY at once) while scraping /metrics."""
    gate = asyncio.Semaphore(CONCURRENCY)
    scrapes: list[dict[Series, float]] = []
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:

        async def one() -> None:
            async with gate:
                assert (await client.get(LOAD_ROUTE)).status_code == 401

        async def scrape_while(load: asyncio.Future[list[None]]) -> None:
            while not load.done():
                scrapes.append(counter_values((await client.get("/metrics")).text))
                await asyncio.sleep(0.05)

        load = asyncio.gather(*(one() for _ in range(requests)))
        await asyncio.gather(load, scrape_while(load))
        scrapes.append(counter_values((await client.get("/metrics")).text))
    return scrapes


def assert_never_backwards(scrapes: list[dict[Series, float]]) -> None:
    for before, after in itertools.pairwise(scrapes):
        for series, value in before.items():
            assert after.get(series, 0.0) >= value, (series, value, after.get(series))


def test_two_workers_aggregate_and_survive_a_killed_worker(
    server: Server, otlp: OtlpReceiver
) -> None:
    first = asyncio.run(load_and_scrape(server.base, 300))
    assert len(first) >= 3
    assert_never_backwards(first)
    assert load_count(first[-1]) == 300

    victim = server.master.children()[0]
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)

    def replaced() -> bool:
        pids = {child.pid for child in server.master.children()}
        return len(pids) == 2 and victim.pid not in pids and healthy(server.base)

    wait_for(replaced, server.log, "replacement worker", timeout=30)

    second = asyncio.run(load_and_scrape(server.base, 200))
    assert_never_backwards([first[-1], *second])
    assert load_count(second[-1]) == 500  # the dead worker's requests still count
    final = httpx.get(f"{server.base}/metrics").text
    (in_flight,) = [
        s.value
        for family in text_string_to_metric_families(final)
        for s in family.samples
        if s.name == "flow_http_requests_in_flight"
    ]
    assert in_flight == 1  # only this scrape: the killed worker's gauge file was dropped
    # Tracing started after fork: the workers' spans reach the OTLP receiver.
    wait_for(
        lambda: any(b"intuitivus-flow" in b for b in otlp.bodies), server.log, "exported traces"
    )
