"""`perf analyze`: run every analyser over one instance, with progress, and rank what they found.

Each area runs on its own, bounded in time; one that fails or cannot look is reported as
`Skipped` with the reason, so the rest of the report stands and nothing reads as healthy
that was not measured. The instance is described by `Instance`: the callers (the CLI, the
Performance page) build it from an app, since this layer sits below the app and its context.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from prometheus_client.metrics_core import Metric
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from intuitivus_flow.metrics_history.repository import MetricRepository
from intuitivus_flow.metrics_history.signals import Signal
from intuitivus_flow.observability.metrics import FlowMetrics
from intuitivus_flow.performance.cache import analyze_cache
from intuitivus_flow.performance.findings import Area, AreaReport, Finding, Skipped, ranked
from intuitivus_flow.performance.jobs import analyze_jobs
from intuitivus_flow.performance.process import Trend, analyze_process
from intuitivus_flow.performance.requests import (
    HistoryP95,
    InjectedFault,
    RouteHistory,
    analyze_requests,
)
from intuitivus_flow.performance.web import analyze_web

AREA_TIMEOUT_SECONDS = 30.0
AREAS = (Area.ENDPOINTS, Area.DATABASE, Area.CACHE, Area.JOBS, Area.PROCESS, Area.WEB)
# Progress: (area, None) when it starts, (area, its report) when it ends.
Progress = Callable[[Area, AreaReport | None], None]


@dataclass(slots=True)
class Instance:
    """What the analysers read: the database, Redis, the metrics, and the app's pages."""

    engine: AsyncEngine
    redis: Redis | None
    # The metric families to read (the registry's collect(), or a scrape of /metrics).
    metrics: Callable[[], Iterable[Metric]]
    flow_metrics: FlowMetrics | None = None  # the live registry (the database area's pool wait)
    pages: httpx.AsyncClient | None = None  # talks to the app; holds a web session if signed_in
    signed_in: bool = False
    routes: RouteHistory | None = None  # earlier per-route readings (windows and regressions)
    fault: InjectedFault | None = None
    database: bool = True  # the database area (off in tests of the other areas)
    in_server: bool = True  # this process serves the app (False: the CLI, beside the server)
    workers_dir: str | None = None  # the serving workers' metric files (pids), when elsewhere


@dataclass(frozen=True, slots=True)
class Analysis:
    started_at: datetime
    seconds: float
    window: timedelta
    engine: str
    areas: tuple[AreaReport, ...] = field(default_factory=tuple)

    @property
    def findings(self) -> list[Finding]:
        return ranked([finding for area in self.areas for finding in area.findings])

    @property
    def skipped(self) -> list[Skipped]:
        return [item for area in self.areas for item in area.skipped]

    def to_dict(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at.isoformat(),
            "seconds": round(self.seconds, 3),
            "window_seconds": self.window.total_seconds(),
            "engine": self.engine,
            "findings": [
                {
                    "rank": rank,
                    "area": f.area.value,
                    "code": f.code,
                    "severity": f.severity.value,
                    "title": f.title,
                    "impact": round(f.impact, 4),
                    "subject": f.subject,
                    "evidence": f.evidence,
                    "recommendation": f.recommendation,
                }
                for rank, f in enumerate(self.findings, start=1)
            ],
            "skipped": [{"area": s.area.value, "reason": s.reason} for s in self.skipped],
            "tables": [
                {
                    "area": area.area.value,
                    "title": table.title,
                    "columns": list(table.columns),
                    "rows": [list(row) for row in table.rows],
                }
                for area in self.areas
                for table in area.tables
            ],
        }


async def analyze(
    instance: Instance,
    *,
    window: timedelta = timedelta(hours=1),
    now: datetime | None = None,
    progress: Progress | None = None,
) -> Analysis:
    now = now or datetime.now(UTC)
    started = time.perf_counter()
    metrics = list(instance.metrics())  # one reading shared by every area
    trends = await _history_trends(instance.engine, now=now, window=window)
    runs: dict[Area, Callable[[], Awaitable[AreaReport]]] = {
        Area.ENDPOINTS: lambda: _requests(instance, metrics, now, window, trends),
        Area.DATABASE: lambda: _database(instance, window),
        Area.CACHE: lambda: analyze_cache(metrics, instance.redis),
        Area.JOBS: lambda: _jobs(instance.engine, now, window),
        Area.PROCESS: lambda: analyze_process(
            metrics,
            cpu=trends.get(Signal.cpu_usage_percent.value, Trend()),
            memory=trends.get(Signal.memory_usage_percent.value, Trend()),
            in_server=instance.in_server,
            workers_dir=instance.workers_dir,
        ),
        Area.WEB: lambda: analyze_web(instance.pages, signed_in=instance.signed_in),
    }
    reports = []
    for area in AREAS:
        if progress is not None:
            progress(area, None)
        report = await _bounded(area, runs[area])
        reports.append(report)
        if progress is not None:
            progress(area, report)
    return Analysis(
        started_at=now,
        seconds=time.perf_counter() - started,
        window=window,
        engine=instance.engine.dialect.name,
        areas=tuple(reports),
    )


async def _bounded(area: Area, run: Callable[[], Awaitable[AreaReport]]) -> AreaReport:
    try:
        return await asyncio.wait_for(run(), timeout=AREA_TIMEOUT_SECONDS)
    except TimeoutError:
        reason = f"gave up after {AREA_TIMEOUT_SECONDS:.0f} s"
    except Exception as exc:  # one broken analyser must not hide the others' findings
        reason = f"failed: {type(exc).__name__}: {str(exc)[:200]}"
    return AreaReport(area, skipped=(Skipped(area, reason),))


async def _requests(
    instance: Instance,
    metrics: list[Metric],
    now: datetime,
    window: timedelta,
    trends: dict[str, Trend],
) -> AreaReport:
    p95 = trends.get(Signal.response_time_p95_ms.value)
    previous = trends.get(_PREVIOUS_P95)
    return analyze_requests(
        metrics,
        now=now,
        window=window,
        history=instance.routes,
        fault=instance.fault,
        p95_history=HistoryP95(
            current=p95.mean if p95 else None, previous=previous.mean if previous else None
        ),
    )


async def _database(instance: Instance, window: timedelta) -> AreaReport:
    if not instance.database:
        return AreaReport(Area.DATABASE, skipped=(Skipped(Area.DATABASE, "not requested"),))
    from intuitivus_flow.performance.database import analyze_database

    return await analyze_database(instance.engine, window=window, metrics=instance.flow_metrics)


async def _jobs(engine: AsyncEngine, now: datetime, window: timedelta) -> AreaReport:
    async with AsyncSession(engine) as session:
        return await analyze_jobs(session, now=now, window=window)


# The p95 of the window before the analysed one (regressions), keyed apart from the signal.
_PREVIOUS_P95 = "previous:" + Signal.response_time_p95_ms.value
TREND_STEPS = 6


async def _history_trends(
    engine: AsyncEngine, *, now: datetime, window: timedelta
) -> dict[str, Trend]:
    """Means, first and last steps of the history signals the analysers compare."""
    trends: dict[str, Trend] = {}
    step = max(1, int(window.total_seconds() // TREND_STEPS))
    try:
        async with AsyncSession(engine) as session:
            history = MetricRepository(session)
            for signal in (
                Signal.cpu_usage_percent,
                Signal.memory_usage_percent,
                Signal.response_time_p95_ms,
            ):
                buckets = await history.buckets(
                    signal.value, start=now - window, end=now, step_seconds=step, instance=None
                )
                trends[signal.value] = _trend(buckets)
            earlier = await history.buckets(
                Signal.response_time_p95_ms.value,
                start=now - 2 * window,
                end=now - window,
                step_seconds=step,
                instance=None,
            )
            trends[_PREVIOUS_P95] = _trend(earlier)
    except Exception:  # no history table yet (an unmigrated database): the areas say so
        return {}
    return trends


def _trend(buckets: list[Any]) -> Trend:
    if not buckets:
        return Trend()
    weighted = sum(b.average * b.samples for b in buckets)
    samples = sum(b.samples for b in buckets) or 1
    return Trend(mean=weighted / samples, first=buckets[0].average, last=buckets[-1].average)
