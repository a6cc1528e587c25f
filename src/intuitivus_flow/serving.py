"""`serve --workers N`: gunicorn managing N uvicorn workers, with the hooks metrics and tracing
need to stay correct across processes.

- Prometheus multiprocess mode: every process writes its values to files in a fresh directory
  (`PROMETHEUS_MULTIPROC_DIR`), set before any worker imports prometheus_client; when a worker
  dies, `child_exit` marks it dead so its live gauges (in flight, pool, CPU) stop counting while
  its counters stay, which keeps totals from going backwards.
- Tracing starts in `post_fork`, inside each worker: the exporter's thread would not survive
  a fork, and spans must not be buffered in the master.
- The app is built in each worker (no preload), after the hooks ran.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

# gunicorn ships no type information.
from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]
from gunicorn.glogging import Logger as GunicornLogger  # type: ignore[import-untyped]

from intuitivus_flow.config import Settings, get_settings
from intuitivus_flow.observability.metrics import MULTIPROC_ENV

MULTIPROC_DIRNAME = "prometheus-multiproc"
WORKER_CLASS = "uvicorn_worker.UvicornWorker"
# Settings newer gunicorn releases know; older ones would refuse them.
OPTIONAL_SETTINGS = frozenset({"control_socket_disable"})


def prepare_multiprocess_dir(data_dir: Path) -> Path:
    """A fresh, empty directory for this run's metric files; stale files of a previous run
    would otherwise be added to this run's counters."""
    directory = (data_dir / MULTIPROC_DIRNAME).resolve()
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(directory)
    _use_multiprocess_values()
    return directory


def _use_multiprocess_values() -> None:
    # prometheus_client picks its value class when first imported. If something imported it
    # before the directory was set, switch it now, before any metric of a worker exists.
    from prometheus_client import values

    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


def post_fork(_server: Any, _worker: Any) -> None:
    from intuitivus_flow.observability.tracing import init_process_tracing

    init_process_tracing(get_settings())


def child_exit(_server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


class _RoutedLogger(GunicornLogger):  # type: ignore[misc]
    """gunicorn's logger, with its records sent to our structured handler."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            logger.handlers.clear()
            logger.propagate = True


class FlowGunicorn(BaseApplication):  # type: ignore[misc]
    """gunicorn configured from code rather than a config file or command line."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in OPTIONAL_SETTINGS and key not in self.cfg.settings:
                continue
            self.cfg.set(key, value)

    def load(self) -> Any:
        from intuitivus_flow.app import create_app

        return create_app()


def gunicorn_options(settings: Settings, *, host: str, port: int, workers: int) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": WORKER_CLASS,
        "post_fork": post_fork,
        "child_exit": child_exit,
        "logger_class": _RoutedLogger,
        "graceful_timeout": 20,
        # Idle keep-alive connections stay open longer than a load balancer's idle timeout
        # (60 s on the common ones): with gunicorn's 2 s, a client reusing a connection just
        # as the worker closes it gets "server disconnected" instead of an answer.
        "keepalive": 75,
        "preload_app": False,
        # The control socket (gunicornc) lives in ~/.gunicorn, shared by every instance of the
        # user; we do not use it, and two instances would fight over it.
        "control_socket_disable": True,
    }
    if settings.trust_forwarded_for:
        options["forwarded_allow_ips"] = "*"
    return options


def share_fault_plan(data_dir: Path) -> None:
    """Point every worker at one fault-plan file (fresh for this server), so a drill's
    `PUT /api/ops/faults` reaches all of them, whichever worker took the request."""
    plan_file = (data_dir / f"fault-plan-{os.getpid()}.json").resolve()
    plan_file.unlink(missing_ok=True)
    os.environ["FLOW_FAULT_PLAN_FILE"] = str(plan_file)


def run_workers(settings: Settings, *, host: str, port: int, workers: int) -> None:
    """Serve with `workers` processes; returns when gunicorn stops."""
    from intuitivus_flow.observability.logging import configure_logging

    prepare_multiprocess_dir(settings.data_dir)
    share_fault_plan(settings.data_dir)
    # Caches kept in one process are wrong once several serve (auth/principal_cache.py).
    os.environ["FLOW_SERVING_PROCESSES"] = str(workers)
    # Workers are forked with the master's cached settings; they must see the shared file too.
    get_settings.cache_clear()
    configure_logging(settings)
    FlowGunicorn(gunicorn_options(settings, host=host, port=port, workers=workers)).run()
