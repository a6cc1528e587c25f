"""The system under experiment, all of it on loopback and all of it ours: a throw-away
PostgreSQL cluster, our own redis-server, `intuitivus-flow serve --workers N` and, when asked,
an `intuitivus-flow worker` process; optionally a fault-injecting TCP proxy between the app and
the database. Everything is started with bounded waits and torn down by process id.

One environment exists at a time in the process running an experiment: the Chaos Toolkit
control (`chaos.control`) starts it before the experiment and stops it after, and the actions
and probes reach it through `current()`.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from chaos.load import Account, Acknowledged, Load
from chaos.processes import (
    ProcessError,
    ProxyThread,
    ThrowawayPostgres,
    ThrowawayRedis,
    free_port,
    postgres_bin,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS_DIR = REPO_ROOT / "chaos" / "experiments"
START_TIMEOUT_SECONDS = 120.0  # migrating an empty database on a busy 2-core machine
# At teardown nothing is worth a graceful drain: the servers and their data are thrown away.
STOP_TIMEOUT_SECONDS = 3.0
# Bounds of the served app during experiments: an outage is answered within about two seconds
# (the production defaults are longer); what a request may take before it counts as hanging
# is measured against them (`HANG_SECONDS`).
DATABASE_TIMEOUT_SECONDS = 2.0
STATEMENT_TIMEOUT_SECONDS = 5.0
REDIS_TIMEOUT_SECONDS = 0.5
HANG_SECONDS = 8.0
# A job held by a killed worker is taken over after this long (production: 5 minutes).
WORKER_LEASE_SECONDS = 4.0


class EnvironmentError_(RuntimeError):  # noqa: N801 - `EnvironmentError` is a builtin alias
    """The environment could not be set up (one readable line)."""


@dataclass(slots=True)
class Fault:
    name: str
    started: float
    ended: float | None = None


@dataclass(slots=True)
class Record:
    """What happened during the experiment, for the probes and the report."""

    load: Load | None = None
    account: Account | None = None
    faults: list[Fault] = field(default_factory=list)
    marks: list[tuple[float, str]] = field(default_factory=list)  # (time, what): each kill
    steady: dict[str, dict[str, float]] = field(default_factory=dict)  # before/after
    campaign: dict[str, Any] = field(default_factory=dict)
    steady_writes: Acknowledged = field(default_factory=Acknowledged)  # the SLI windows'
    writes: dict[str, int] = field(default_factory=dict)  # the check's result


@dataclass(frozen=True, slots=True)
class Options:
    web_workers: int = 2
    job_worker: bool = False
    db_proxy: bool = False  # the app reaches PostgreSQL through a proxy that can add latency


class Environment:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.root = Path(tempfile.mkdtemp(prefix="flow-chaos-"))
        self.data_dir = self.root / "data"
        self.data_dir.mkdir()
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.postgres: ThrowawayPostgres | None = None
        self.redis: ThrowawayRedis | None = None
        self.proxy: ProxyThread | None = None
        self.web: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.epoch = time.monotonic()
        self.record = Record()
        self._stack = ExitStack()
        self._stack.callback(shutil.rmtree, self.root, ignore_errors=True)

    def now(self) -> float:
        """Seconds on the experiment's clock (the load's timeline uses the same)."""
        return time.monotonic() - self.epoch

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        try:
            self._start_postgres()
            self._start_redis()
            if self.options.db_proxy:
                self._start_proxy()
            self.web = self._spawn(
                "serve", "--host", "127.0.0.1", "--port", str(self.port),
                "--workers", str(self.options.web_workers), log="web.log",
            )  # fmt: skip
            self._stack.callback(self._terminate, lambda: self.web)
            self.wait_until(
                self._serving, "the web server to answer /health", START_TIMEOUT_SECONDS
            )
            if self.options.job_worker:
                self.start_job_worker()
                self._stack.callback(self._terminate, lambda: self.worker)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self._stack.close()

    def _start_postgres(self) -> None:
        bin_dir = postgres_bin()
        if bin_dir is None:
            raise EnvironmentError_(
                "PostgreSQL server binaries not found under /usr/lib/postgresql"
            )
        # Its own directory: initdb runs as the postgres user, who cannot enter ours (0700).
        pg_root = Path(tempfile.mkdtemp(prefix="flow-chaos-pg-"))
        self._stack.callback(shutil.rmtree, pg_root, ignore_errors=True)
        cluster = ThrowawayPostgres(pg_root, bin_dir)
        cluster.initdb()
        cluster.start()
        self.postgres = cluster
        self._stack.callback(self._stop_postgres)

    def _stop_postgres(self) -> None:
        if self.postgres is not None and self.postgres.running():
            with contextlib.suppress(ProcessError):
                self.postgres.stop()

    def _start_redis(self) -> None:
        redis_root = self.root / "redis"
        redis_root.mkdir()
        server = ThrowawayRedis(redis_root)
        server.start()
        self.redis = server
        self._stack.callback(server.kill)

    def _start_proxy(self) -> None:
        assert self.postgres is not None
        proxy = ProxyThread(self.postgres.port)
        proxy.start()
        self.proxy = proxy
        self._stack.callback(proxy.stop)

    # -- processes ---------------------------------------------------------------------------

    @property
    def database_url(self) -> str:
        """The app's database URL (through the proxy when there is one)."""
        assert self.postgres is not None
        port = self.proxy.port if self.proxy is not None else self.postgres.port
        return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"

    @property
    def direct_database_url(self) -> str:
        """For the checks after an experiment: never through the fault."""
        assert self.postgres is not None
        return self.postgres.url

    def _env(self) -> dict[str, str]:
        assert self.redis is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOW_", "OTEL_"))}
        env.update(
            {
                "FLOW_ENV": "local",
                "FLOW_DATA_DIR": str(self.data_dir),
                "FLOW_SEED_DEMO": "false",
                "FLOW_LOG_LEVEL": "WARNING",
                "FLOW_DATABASE_URL": self.database_url,
                "FLOW_REDIS_URL": self.redis.url,
                "FLOW_DATABASE_TIMEOUT_SECONDS": str(DATABASE_TIMEOUT_SECONDS),
                "FLOW_DATABASE_STATEMENT_TIMEOUT_SECONDS": str(STATEMENT_TIMEOUT_SECONDS),
                "FLOW_REDIS_TIMEOUT_SECONDS": str(REDIS_TIMEOUT_SECONDS),
                # Jobs run in the worker process only, so killing it is killing the jobs.
                "FLOW_EMBEDDED_WORKER": "false",
                "FLOW_WORKER_LEASE_SECONDS": str(WORKER_LEASE_SECONDS),
                "FLOW_CAMPAIGN_SENDER": "chaos.sender:build",
                # The load signs up and writes from one loopback address.
                "FLOW_REGISTER_MAX_PER_CLIENT": "10000",
                # The code of this checkout (src/ first, whatever the venv installed), and
                # the chaos package for the campaign sender.
                "PYTHONPATH": os.pathsep.join(
                    filter(
                        None,
                        [str(REPO_ROOT / "src"), str(REPO_ROOT), os.environ.get("PYTHONPATH")],
                    )
                ),
            }
        )
        return env

    def _spawn(self, *args: str, log: str) -> subprocess.Popen[bytes]:
        with (self.root / log).open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "intuitivus_flow", *args],
                env=self._env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its children stop with it, as one process group
            )

    def start_job_worker(self) -> None:
        self.worker = self._spawn("worker", log="worker.log")

    def kill_job_worker(self) -> int:
        """SIGKILL the worker process group: no chance to finish or release its jobs."""
        process = self.worker
        if process is None or process.poll() is not None:
            raise EnvironmentError_("no job worker is running")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
        return process.pid

    def web_workers(self) -> list[psutil.Process]:
        """The gunicorn master's worker processes (the master itself is never a victim)."""
        if self.web is None or self.web.poll() is not None:
            return []
        try:
            return psutil.Process(self.web.pid).children()
        except psutil.NoSuchProcess:
            return []

    def _serving(self) -> bool:
        if self.web is not None and self.web.poll() is not None:
            raise EnvironmentError_(f"the web server exited at start:\n{self.log_tail('web.log')}")
        try:
            return httpx.get(f"{self.base_url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def _terminate(self, process_of: Callable[[], subprocess.Popen[bytes] | None]) -> None:
        process = process_of()
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)  # the group this environment started
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.root / name
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def save_logs(self, destination: Path) -> None:
        for name in ("web.log", "worker.log"):
            if (self.root / name).exists():
                shutil.copyfile(self.root / name, destination / name)

    @staticmethod
    def wait_until(condition: Callable[[], bool], what: str, timeout: float) -> float:
        """Seconds it took; raises after `timeout`."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if condition():
                return time.monotonic() - started
            time.sleep(0.1)
        raise EnvironmentError_(f"no {what} within {timeout:.0f} s")


_current: Environment | None = None
_shared = False  # started by the caller (a test's fixture) for several experiments


def start(options: Options) -> Environment:
    global _current
    if _current is not None:
        if _shared:
            # One environment for several experiments (the test suite's quick variant):
            # each experiment gets a fresh record of its own.
            _current.record = Record()
            return _current
        _current.stop()
    environment = Environment(options)
    environment.start()
    _current = environment
    return environment


def current() -> Environment:
    if _current is None:
        raise EnvironmentError_("no environment: run the experiment with the chaos.control control")
    return _current


@contextlib.contextmanager
def shared(options: Options) -> Iterator[Environment]:
    """An environment the experiments run in one after another, stopped at the end."""
    global _shared
    environment = start(options)
    _shared = True
    try:
        yield environment
    finally:
        _shared = False
        stop()


def release() -> None:
    """After an experiment: stop its environment, unless it is shared."""
    if not _shared:
        stop()


def stop() -> None:
    global _current
    if _current is not None:
        _current.stop()
        _current = None


atexit.register(stop)  # an interrupted run still removes its servers
