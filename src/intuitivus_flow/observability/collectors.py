"""Runtime gauges: database pool, Redis calls, process CPU and memory, disk, dependency health.

Pool gauges follow the pool's own events, so they are current at any moment. The sampled
values (CPU, memory, disk, dependencies) are refreshed by `RuntimeGauges.refresh`, which the
/metrics endpoint calls before rendering and a background task calls every few seconds, so
that with several workers every worker's values stay fresh whichever worker is scraped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import psutil
from opentelemetry.instrumentation.utils import suppress_instrumentation
from redis.asyncio import Redis
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.pool import Pool

from intuitivus_flow.observability.metrics import FlowMetrics

DEPENDENCY_TIMEOUT_SECONDS = 2.0
logger = logging.getLogger(__name__)


def instrument_pool(engine: AsyncEngine, metrics: FlowMetrics) -> None:
    """Keep the pool gauges current and time every connection acquisition."""
    pool = engine.sync_engine.pool
    metrics.db_pool_size.set(_pool_number(pool, "size"))

    def on_checkout(*_: Any) -> None:
        metrics.db_pool_checked_out.inc()
        metrics.db_pool_overflow.set(max(0, _pool_number(pool, "overflow")))

    def on_checkin(*_: Any) -> None:
        metrics.db_pool_checked_out.dec()
        metrics.db_pool_overflow.set(max(0, _pool_number(pool, "overflow")))

    event.listen(engine.sync_engine, "checkout", on_checkout)
    event.listen(engine.sync_engine, "checkin", on_checkin)
    _time_acquisitions(pool, metrics)


def _time_acquisitions(pool: Pool, metrics: FlowMetrics) -> None:
    # SQLAlchemy has no pool event *before* a checkout starts waiting, so the wait cannot be
    # measured from events alone: wrap this pool's `connect`, which every checkout goes through.
    connect = pool.connect

    def timed_connect() -> Any:
        started = time.perf_counter()
        try:
            return connect()
        finally:
            metrics.db_pool_wait_seconds.observe(time.perf_counter() - started)

    pool.connect = timed_connect  # type: ignore[method-assign]


def sync_pool_gauges(engine: AsyncEngine, metrics: FlowMetrics) -> None:
    """Re-read the pool's counts (corrects any drift of the event-driven values)."""
    pool = engine.sync_engine.pool
    metrics.db_pool_size.set(_pool_number(pool, "size"))
    metrics.db_pool_checked_out.set(_pool_number(pool, "checkedout"))
    metrics.db_pool_overflow.set(max(0, _pool_number(pool, "overflow")))


def _pool_number(pool: Pool, name: str) -> int:
    # QueuePool has size/checkedout/overflow; NullPool and StaticPool (SQLite :memory:) do not.
    reader = getattr(pool, name, None)
    return int(reader()) if callable(reader) else 0


def instrument_redis(redis: Redis, metrics: FlowMetrics) -> None:
    """Count every command sent, single or pipelined, by name and outcome."""
    execute_command = redis.execute_command
    make_pipeline = redis.pipeline

    async def counted_execute(*args: Any, **options: Any) -> Any:
        call = execute_command(*args, **options)  # type: ignore[no-untyped-call]
        return await _count([_command_name(args)], metrics, call)

    def counted_pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = make_pipeline(*args, **kwargs)
        execute = pipe.execute

        async def counted_pipe_execute(raise_on_error: bool = True) -> Any:
            names = [_command_name(command[0]) for command in pipe.command_stack]
            return await _count(names, metrics, execute(raise_on_error=raise_on_error))

        pipe.execute = counted_pipe_execute  # type: ignore[method-assign]
        return pipe

    redis.execute_command = counted_execute  # type: ignore[method-assign]
    redis.pipeline = counted_pipeline  # type: ignore[method-assign]


async def _count(names: list[str], metrics: FlowMetrics, call: Awaitable[Any]) -> Any:
    outcome = "error"
    try:
        result = await call
        outcome = "ok"
        return result
    finally:
        for name in names:
            metrics.redis_commands_total.labels(command=name, outcome=outcome).inc()


def _command_name(args: Any) -> str:
    # The command name only, never its arguments (keys can hold user data).
    if not args:
        return "unknown"
    first = args[0]
    name = first.decode() if isinstance(first, bytes) else str(first)
    return name.split(" ", 1)[0].lower()[:32]


class QueueStat(Protocol):
    @property
    def queue(self) -> str: ...
    @property
    def depth(self) -> int: ...
    @property
    def lag_seconds(self) -> float: ...


@dataclass(frozen=True, slots=True)
class QueueProbe:
    """How to read the job queues: handed in by the app, because the jobs layer sits above
    this one (jobs record their own metrics through it)."""

    names: Collection[str]
    stats: Callable[[AsyncSession], Awaitable[Sequence[QueueStat]]]


class RuntimeGauges:
    """Samples this process's CPU and memory, the data dir's disk, and the dependencies."""

    def __init__(
        self,
        metrics: FlowMetrics,
        *,
        engine: AsyncEngine,
        redis: Redis | None,
        data_dir: Path,
        queues: QueueProbe | None = None,
    ) -> None:
        self.metrics = metrics
        self.queues = queues
        self.engine = engine
        self.redis = redis
        self.data_dir = data_dir
        self._process: psutil.Process | None = None

    async def refresh(self) -> None:
        self._sample_process()
        self._sample_disk()
        sync_pool_gauges(self.engine, self.metrics)
        # Health probes are not worth a trace each; keep them out of the exported spans.
        with suppress_instrumentation():
            await self._check("database", self._ping_database)
            if self.redis is not None:
                await self._check("redis", self._ping_redis)
            await self._sample_queues()

    async def _sample_queues(self) -> None:
        """Depth and lag of every job queue (the jobs table is shared, so any worker can tell)."""
        if self.queues is None:
            return
        try:
            async with AsyncSession(self.engine) as session:
                stats = {item.queue: item for item in await self.queues.stats(session)}
        except Exception as exc:  # a missing table or a down database must not stop the rest
            logger.warning("job queue sampling failed: %s", type(exc).__name__)
            return
        for queue in sorted(set(self.queues.names) | set(stats)):
            found = stats.get(queue)
            self.metrics.job_queue_depth.labels(queue=queue).set(found.depth if found else 0)
            self.metrics.job_queue_lag_seconds.labels(queue=queue).set(
                found.lag_seconds if found else 0
            )

    def _sample_process(self) -> None:
        process = self._current_process()
        # cpu_percent counts one core as 100 %; divide by the cores for a share of the machine.
        cpu = process.cpu_percent(interval=None) / 100 / (psutil.cpu_count() or 1)
        self.metrics.process_cpu_ratio.set(min(cpu, 1.0))
        total = psutil.virtual_memory().total
        self.metrics.process_memory_ratio.set(process.memory_info().rss / total if total else 0)

    def _current_process(self) -> psutil.Process:
        # A worker forked from the master must not reuse the master's CPU-time baseline.
        if self._process is None or self._process.pid != os.getpid():
            self._process = psutil.Process(os.getpid())
            self._process.cpu_percent(interval=None)
        return self._process

    def _sample_disk(self) -> None:
        try:
            usage = shutil.disk_usage(self.data_dir)
        except OSError:
            return  # the directory is created on first write; nothing to report yet
        self.metrics.data_dir_disk_used_ratio.set(usage.used / usage.total if usage.total else 0)

    async def _check(self, component: str, probe: Callable[[], Awaitable[None]]) -> None:
        try:
            await asyncio.wait_for(probe(), timeout=DEPENDENCY_TIMEOUT_SECONDS)
        except Exception as exc:
            logger.warning("%s check failed: %s", component, type(exc).__name__)
            self.metrics.dependency_up.labels(component=component).set(0)
        else:
            self.metrics.dependency_up.labels(component=component).set(1)

    async def _ping_database(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def _ping_redis(self) -> None:
        assert self.redis is not None
        await self.redis.ping()
