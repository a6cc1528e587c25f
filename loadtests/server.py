"""The server a run loads when no URL is given: `intuitivus-flow serve` on a free loopback port
with a scratch data directory (and, with `--database`, a scratch PostgreSQL database), the fake
Graph API beside it; all of it removed when the run ends, whatever happened.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx
from sqlalchemy.engine import make_url

from loadtests.common.fake_graph import FakeGraph
from loadtests.common.net import free_port

START_TIMEOUT_SECONDS = 180  # migrating an empty database on a busy 2-core machine
STOP_TIMEOUT_SECONDS = 20


class ServerError(RuntimeError):
    """The embedded server or its database could not be set up (one readable line)."""


@dataclass(frozen=True, slots=True)
class ServerOptions:
    workers: int = 1
    database: str | None = None  # PostgreSQL URL of a database to create the scratch one from
    redis: str | None = None

    def describe(self) -> str:
        engine = "PostgreSQL" if self.database else "SQLite"
        extras = " + Redis" if self.redis else ""
        return f"embedded, {engine}{extras}, {self.workers} worker(s)"


class ScratchDatabase:
    """`CREATE DATABASE flow_loadtest_<random>` on the given server; dropped on close."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        if not parsed.drivername.startswith("postgresql"):
            raise ServerError(f"--database must be a postgresql:// URL, not {parsed.drivername}")
        self._admin = parsed.set(drivername="postgresql")
        self.name = f"flow_loadtest_{secrets.token_hex(4)}"
        self.url = parsed.set(drivername="postgresql+asyncpg", database=self.name).render_as_string(
            hide_password=False
        )

    async def _execute(self, statement: str) -> None:
        import asyncpg  # the product's own driver

        connection = await asyncpg.connect(
            self._admin.render_as_string(hide_password=False), timeout=10
        )
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    def create(self) -> None:
        try:
            asyncio.run(self._execute(f'CREATE DATABASE "{self.name}"'))
        except Exception as error:  # asyncpg's and the socket's errors share no narrower base
            raise ServerError(f"cannot create the scratch database: {error}") from error

    def drop(self) -> None:
        asyncio.run(self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))


def _server_env(
    data_dir: Path, graph_url: str, options: ServerOptions, db_url: str | None
) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLOW_")}
    env.update(
        {
            "FLOW_DATA_DIR": str(data_dir),
            "FLOW_ENV": "local",
            "FLOW_SEED_DEMO": "false",
            "FLOW_LOG_LEVEL": "WARNING",
            "FLOW_WHATSAPP_GRAPH_URL": graph_url,
            # Every simulated client comes from 127.0.0.1: the per-address limits meant for
            # the internet would refuse the seeding's sign-ups and the visitors' messages.
            "FLOW_REGISTER_MAX_PER_CLIENT": "10000",
            "FLOW_WEBCHAT_MESSAGES_PER_MINUTE": "10000",
        }
    )
    if db_url:
        env["FLOW_DATABASE_URL"] = db_url
    if options.redis:
        env["FLOW_REDIS_URL"] = options.redis
    return env


class EmbeddedServer:
    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._stack = ExitStack()
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Path | None = None

    def __enter__(self) -> EmbeddedServer:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stack.close()

    def _start(self) -> None:
        data_dir = Path(tempfile.mkdtemp(prefix="flow-loadtest-"))
        self._stack.callback(shutil.rmtree, data_dir, ignore_errors=True)
        graph = FakeGraph().start()
        self._stack.callback(graph.stop)
        db_url = None
        if self.options.database:
            scratch = ScratchDatabase(self.options.database)
            scratch.create()
            self._stack.callback(scratch.drop)
            db_url = scratch.url
        self._log = data_dir / "server.log"
        log = self._log.open("wb")
        self._stack.callback(log.close)
        self._process = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
            [
                sys.executable,
                "-m",
                "intuitivus_flow",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.options.workers),
            ],
            env=_server_env(data_dir, graph.url, self.options, db_url),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its gunicorn workers stop with it, as one group
        )
        self._stack.callback(self._stop)
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ServerError(f"the server exited at start:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise ServerError(f"the server did not answer /health in {START_TIMEOUT_SECONDS} s")

    def save_log(self, destination: Path) -> Path | None:
        """Keep the server's log (its errors under load) beyond the scratch directory."""
        if self._log is None or not self._log.exists():
            return None
        destination.write_bytes(self._log.read_bytes())
        return destination

    def log_tail(self, lines: int = 20) -> str:
        if self._log is None or not self._log.exists():
            return ""
        return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])

    def _stop(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)  # the group this run started, by its id
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
