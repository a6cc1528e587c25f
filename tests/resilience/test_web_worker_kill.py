"""`serve --workers 2` with a worker killed by SIGKILL under load: the other worker keeps
serving, the master replaces the dead one, and only requests the victim held can fail."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.resilience.processes import free_port

pytestmark = pytest.mark.slow

ROUTE = "/api/auth/me"  # 401 without touching the database: the serving path alone
CLIENTS = 4


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, psutil.Process]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOW_", "OTEL_"))}
    env.update(FLOW_DATA_DIR=str(tmp_path), FLOW_ENV="test", FLOW_SEED_DEMO="false")
    with (tmp_path / "serve.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "intuitivus_flow", "serve", "--workers", "2",
             "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    master = psutil.Process(process.pid)
    try:
        _wait_for(lambda: _answers(base) and len(master.children()) == 2, "2 serving workers")
        yield base, master
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"no {what} within {timeout} s")


class Load:
    """Clients sending requests one after another, each on a new connection (so a failure
    is a request the victim held, not a kept-alive connection found dead later)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.ok = 0
        self.failed = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client) for _ in range(CLIENTS)]

    def _client(self) -> None:
        while not self._stop.is_set():
            try:
                status = httpx.get(
                    self.base + ROUTE, headers={"Connection": "close"}, timeout=5
                ).status_code
                good = status == 401
            except httpx.HTTPError:
                good = False
            with self._lock:
                self.ok += good
                self.failed += not good

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)


def test_a_killed_web_worker_is_replaced_while_the_other_keeps_serving(
    served: tuple[str, psutil.Process],
) -> None:
    base, master = served
    with Load(base) as load:
        time.sleep(1.0)
        victim = master.children()[0]
        victim.send_signal(signal.SIGKILL)
        _wait_for(
            lambda: len(master.children()) == 2 and victim.pid not in _pids(master),
            "replacement worker",
        )
        time.sleep(1.0)
    assert load.ok > 2 * CLIENTS, (load.ok, load.failed)  # the load did run through the kill
    # Only what the victim held when it died may fail: at most one request per client.
    assert load.failed <= CLIENTS, (load.ok, load.failed)

    after = [httpx.get(base + ROUTE, headers={"Connection": "close"}, timeout=5) for _ in range(20)]
    assert all(response.status_code == 401 for response in after)


def _pids(master: psutil.Process) -> set[int]:
    return {child.pid for child in master.children()}
