"""`install_observability(app, context)`: logs, metrics, tracing and fault injection in one call.

The app factory makes that call and runs `Observability.running()` in its lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import FastAPI

from intuitivus_flow.kit.cache import CacheStats
from intuitivus_flow.kit.resources import Resources
from intuitivus_flow.observability import faults
from intuitivus_flow.observability.collectors import (
    QueueProbe,
    RuntimeGauges,
    instrument_pool,
    instrument_redis,
)
from intuitivus_flow.observability.endpoints import router as metrics_router
from intuitivus_flow.observability.http_metrics import HttpMetricsMiddleware
from intuitivus_flow.observability.logging import RequestLogMiddleware, configure_logging
from intuitivus_flow.observability.loop_lag import LoopLagProbe
from intuitivus_flow.observability.metrics import FlowMetrics, get_metrics
from intuitivus_flow.observability.tracing import (
    TraceIdHeaderMiddleware,
    init_process_tracing,
    instrument_app,
)

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

# Often enough that a scrape of any worker sees every worker's CPU and memory within seconds.
RUNTIME_REFRESH_SECONDS = 10.0
logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Telemetry:
    """Where an app's signals go. Tests pass their own registry and in-memory span exporter."""

    metrics: FlowMetrics = field(default_factory=get_metrics)
    tracer_provider: TracerProvider | None = None


@dataclass(slots=True)
class Observability:
    metrics: FlowMetrics
    runtime: RuntimeGauges
    faults: faults.FaultState
    tracer_provider: TracerProvider | None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Refresh the sampled gauges in the background while the app serves."""
        tasks = [
            asyncio.create_task(self._refresh_forever(), name="observability-refresh"),
            asyncio.create_task(
                LoopLagProbe(self.metrics).run_forever(), name="observability-loop-lag"
            ),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _refresh_forever(self) -> None:
        while True:
            try:
                await self.runtime.refresh()
            except Exception:
                logger.exception("refreshing runtime gauges failed")
            await asyncio.sleep(RUNTIME_REFRESH_SECONDS)


def install_observability(
    app: FastAPI,
    context: Resources,
    telemetry: Telemetry | None = None,
    *,
    queues: QueueProbe | None = None,
) -> Observability:
    """Logs, metrics, tracing and (when enabled) fault injection for `app`.

    Adds middleware, so call it after the inner middleware (body limit, CORS) and before the
    request-id middleware, which must stay outermost to give every log line its id.
    """
    settings = context.settings
    faults.refuse_in_production(settings)
    configure_logging(settings)
    telemetry = telemetry or Telemetry(tracer_provider=init_process_tracing(settings))
    observability = Observability(
        metrics=telemetry.metrics,
        runtime=RuntimeGauges(
            telemetry.metrics,
            engine=context.engine,
            redis=context.redis,
            data_dir=settings.data_dir,
            queues=queues,
        ),
        faults=faults.FaultState(path=settings.fault_plan_file),
        tracer_provider=telemetry.tracer_provider,
    )
    app.state.observability = observability
    _instrument_resources(context, telemetry.metrics)
    _add_routes_and_middleware(app, context, observability)
    return observability


def _instrument_resources(context: Resources, metrics: FlowMetrics) -> None:
    instrument_pool(context.engine, metrics)
    stats: CacheStats | None = getattr(context.cache, "stats", None)
    if stats is not None:
        counter = metrics.view_cache_requests_total
        stats.listener = lambda outcome: counter.labels(outcome=outcome.value).inc()
    if context.redis is not None:
        instrument_redis(context.redis, metrics)


def _add_routes_and_middleware(
    app: FastAPI, context: Resources, observability: Observability
) -> None:
    app.include_router(metrics_router)
    # Innermost first. Faults sit inside the metrics so injected latency and 500s are measured
    # like real ones (the alert drills depend on it).
    if context.settings.fault_injection:
        app.include_router(faults.router)
        app.add_middleware(faults.FaultInjectionMiddleware, state=observability.faults)
    if observability.tracer_provider is not None:
        app.add_middleware(TraceIdHeaderMiddleware)
        instrument_app(app, context, observability.tracer_provider)
    app.add_middleware(HttpMetricsMiddleware, metrics=observability.metrics)
    app.add_middleware(RequestLogMiddleware)
