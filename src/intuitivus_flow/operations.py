"""The operations loops of a running instance: sample, evaluate, notify, maintain.

A composition root (it wires alerts, forecasting, autoscaling and the metric history
together), so it sits above those domains rather than inside alerts.

`start_operations(context)` is the one call the app's lifespan makes. Each loop is a unit of
work per tick (it commits), never raises out (a failed tick is logged and the next one runs),
and stops when the lifespan ends:

- sampler (every FLOW_METRICS_SAMPLE_SECONDS): one worker per instance writes, under the
  lease `metrics:sampler:<instance>`; the others keep their reading current to take over;
- evaluator (every FLOW_ALERT_EVALUATION_SECONDS): only the holder of `alerts:evaluator`;
- dispatcher (every 2 s, evaluator holder only): sends due notifications and retries.

Work that runs a minute or more apart is a periodic job on the job queue instead, run once
per slot by whichever worker takes it: the predictive trainer (`forecasting/tasks.py`, every
minute) and the metric history's partitions and retention (`metrics_history/tasks.py`, hourly).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from prometheus_client import CollectorRegistry

from intuitivus_flow.alerts import engine, lease
from intuitivus_flow.alerts.engine import Clock, EngineOptions, SystemClock
from intuitivus_flow.alerts.notifications import service as notifications
from intuitivus_flow.alerts.notifications.service import Notifier
from intuitivus_flow.alerts.rules import RulesError, configured_rules
from intuitivus_flow.autoscaling.prescaling import PRESCALE_SECONDS, Prescaler
from intuitivus_flow.config import Settings
from intuitivus_flow.forecasting.evaluator import PredictiveEvaluator
from intuitivus_flow.forecasting.options import ForecastOptions
from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.kit.resources import Resources
from intuitivus_flow.metrics_history import service as history
from intuitivus_flow.metrics_history.sampler import (
    PoolCapacity,
    PrometheusSource,
    Sampler,
    SignalSource,
)
from intuitivus_flow.observability.metrics import collect_registry

logger = logging.getLogger(__name__)

DISPATCH_SECONDS = 2.0
MIN_LEASE = timedelta(seconds=30)


def instance_name() -> str:
    return socket.gethostname()[:128]


def engine_options(settings: Settings) -> EngineOptions:
    # Four missed samples and a signal counts as "no data": a dead sampler cannot keep firing.
    staleness = timedelta(seconds=max(60.0, 4 * settings.metrics_sample_seconds))
    return EngineOptions(
        staleness=staleness,
        external_url=settings.public_url.rstrip("/"),
        runbook_base_url=getattr(settings, "runbook_base_url", None),
    )


def pool_capacity(context: Resources) -> PoolCapacity:
    """The pool as configured on the engine (SQLite's differs from the FLOW_DATABASE_* knobs)."""
    pool = context.engine.sync_engine.pool
    size = getattr(pool, "size", None)
    # QueuePool keeps its overflow limit private; fall back to the setting for other pools.
    overflow = getattr(pool, "_max_overflow", context.settings.database_max_overflow)
    configured = size() if callable(size) else context.settings.database_pool_size
    return PoolCapacity(pool_size=int(configured), max_overflow=max(0, int(overflow)))


@dataclass(slots=True)
class Operations:
    """The state the loops share; tests drive `sample_once`/`evaluate_once` directly."""

    context: Resources
    source: SignalSource
    clock: Clock = field(default_factory=SystemClock)
    instance: str = field(default_factory=instance_name)
    holder: str = field(
        default_factory=lambda: f"{instance_name()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    )
    notifier: Notifier | None = None
    leading: bool = False
    sampler: Sampler = field(init=False)
    predictive: PredictiveEvaluator = field(init=False)

    def __post_init__(self) -> None:
        settings = self.context.settings
        self.sampler = Sampler(
            self.source, instance=self.instance, pool=pool_capacity(self.context)
        )
        if self.notifier is None:
            self.notifier = Notifier.from_settings(settings)
        self.predictive = PredictiveEvaluator(ForecastOptions.from_settings(settings))

    @property
    def settings(self) -> Settings:
        return self.context.settings

    def _ttl(self, seconds: float) -> timedelta:
        return max(MIN_LEASE, timedelta(seconds=3 * seconds))

    async def sample_once(self) -> int:
        """Read the registry; write the samples if this worker holds the instance's lease."""
        now = self.clock.now()
        samples = self.sampler.sample(now)
        async with unit_of_work(self.context.sessions) as session:
            mine = await lease.try_acquire(
                session,
                name=lease.sampler_lease(self.instance),
                holder=self.holder,
                now=now,
                ttl=self._ttl(self.settings.metrics_sample_seconds),
            )
        if not mine:
            return 0
        async with unit_of_work(self.context.sessions) as session:
            await history.record(session, samples)
        return len(samples)

    async def evaluate_once(self) -> engine.EvaluationReport | None:
        """Evaluate the rules if this instance holds (or takes) the evaluator lease."""
        now = self.clock.now()
        async with unit_of_work(self.context.sessions) as session:
            self.leading = await lease.try_acquire(
                session,
                name=lease.EVALUATOR_LEASE,
                holder=self.holder,
                now=now,
                ttl=self._ttl(self.settings.alert_evaluation_seconds),
            )
        if not self.leading:
            return None
        assert self.notifier is not None
        async with unit_of_work(self.context.sessions) as session:
            return await engine.evaluate(
                session,
                configured_rules(self.settings),
                now=now,
                notifier=self.notifier,
                options=engine_options(self.settings),
                predictive=self.predictive,
            )

    async def dispatch_once(self) -> int:
        """Send every due notification once; returns how many got through."""
        if not self.leading:
            return 0
        assert self.notifier is not None
        now = self.clock.now()
        async with unit_of_work(self.context.sessions) as session:
            due = await notifications.due_ids(session, now=now)
        sent = 0
        for delivery_id in due:
            async with unit_of_work(self.context.sessions) as session:
                sent += await notifications.deliver(session, delivery_id, self.notifier, now=now)
        return sent

    async def release(self) -> None:
        async with unit_of_work(self.context.sessions) as session:
            await lease.release(session, name=lease.EVALUATOR_LEASE, holder=self.holder)
            await lease.release(
                session, name=lease.sampler_lease(self.instance), holder=self.holder
            )


async def _every(seconds: float, job: Callable[[], Awaitable[object]], name: str) -> None:
    while True:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            # A broken tick (database away, receiver down) must never take the app with it.
            logger.exception("operations loop %s failed; retrying in %.0f s", name, seconds)
        await asyncio.sleep(seconds)


def _jobs(operations: Operations) -> list[tuple[float, Callable[[], Awaitable[object]], str]]:
    settings = operations.settings
    jobs: list[tuple[float, Callable[[], Awaitable[object]], str]] = []
    if settings.metrics_sample_seconds > 0:
        jobs.append((settings.metrics_sample_seconds, operations.sample_once, "sampler"))
        # The HPA's forecast metric reads the sampled request counts (autoscaling/prescaling.py).
        prescaler = Prescaler(operations.context.sessions, clock=operations.clock)
        jobs.append((PRESCALE_SECONDS, prescaler.run_once, "prescaler"))
    if settings.alert_evaluation_seconds > 0:
        try:
            configured_rules(settings)
        except RulesError as exc:
            logger.error("alert rules unusable, evaluator not started: %s", exc)
            return jobs
        jobs.append((settings.alert_evaluation_seconds, operations.evaluate_once, "evaluator"))
        jobs.append((DISPATCH_SECONDS, operations.dispatch_once, "dispatcher"))
    return jobs


@contextlib.asynccontextmanager
async def start_operations(
    context: Resources,
    *,
    registry: CollectorRegistry | None = None,
    source: SignalSource | None = None,
) -> AsyncIterator[Operations]:
    """Run the operations loops for the life of the `async with` block."""
    operations = Operations(
        context=context, source=source or PrometheusSource(lambda: collect_registry(registry))
    )
    tasks = [
        asyncio.create_task(_every(seconds, job, name), name=f"operations-{name}")
        for seconds, job, name in _jobs(operations)
    ]
    try:
        yield operations
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await operations.release()
