"""The product as a real server process for the browser tests: `intuitivus-flow serve` on a
free loopback port, a scratch folder, its output in a log that a failure shows."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

# A loaded CI machine has taken over a minute to import and migrate before answering.
STARTUP_TIMEOUT_SECONDS = 180


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _server_environment(data_dir: Path) -> dict[str, str]:
    # Nothing from the developer's own FLOW_* settings may leak into the server under test.
    environment = {key: value for key, value in os.environ.items() if not key.startswith("FLOW_")}
    environment.update(FLOW_DATA_DIR=str(data_dir), FLOW_ENV="test", FLOW_SEED_DEMO="false")
    return environment


@contextmanager
def running_flow(folder: Path, settings: dict[str, str] | None = None) -> Iterator[str]:
    """Serve the app from `folder` (data in folder/data) until the block ends; yields its URL.
    FLOW_PUBLIC_URL is where it really listens unless `settings` says otherwise."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    environment = _server_environment(folder / "data") | {"FLOW_PUBLIC_URL": url}
    log = folder / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "intuitivus_flow", "serve", "--port", str(port)],
            cwd=folder,
            env=environment | (settings or {}),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_healthy(url, process, log)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited early:\n{log.read_text()}", pytrace=False)
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"the server did not become healthy:\n{log.read_text()}", pytrace=False)
