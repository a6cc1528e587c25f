"""Endpoints: latency quantiles, rate, errors and total time per route template.

The metric history keeps instance-wide signals only (`metrics` table), so per-route figures
come from the request-duration histogram itself (`flow_http_request_duration_seconds`, labels
method/route/status_class), read from the process's registry (every worker's in multiprocess
mode) or from a scrape of `/metrics`. The histogram is cumulative since the process started;
a window is the difference between two readings, which `RouteHistory` keeps (the Performance
page records one reading per analysis). Without an older reading the report says the figures
cover the time since the process started. The instance-wide p95 over the window and the
previous one comes from the metric history, so a regression is seen even by a fresh process.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from prometheus_client.metrics_core import Metric

from intuitivus_flow.metrics_history.sampler import HTTP_DURATION, quantile_from_buckets
from intuitivus_flow.observability.latency_slo import DEFAULT_THRESHOLD_SECONDS, threshold_for
from intuitivus_flow.performance.findings import Area, AreaReport, Finding, Severity, Skipped, Table

# Fewer requests than this in the window make a p95 one unlucky request (a GC pause, a busy
# host), not evidence; errors are counted, not estimated, so fewer requests do for them.
MIN_LATENCY_REQUESTS = 20
MIN_REQUESTS = 5
ERROR_RATE_WARNING = 0.01
ERROR_RATE_CRITICAL = 0.05
# A route slower than its target that takes this share of all request time hurts users now.
CRITICAL_TIME_SHARE = 0.2
# p95 this many times the previous window's (and at least REGRESSION_MIN_SECONDS slower).
REGRESSION_FACTOR = 1.5
REGRESSION_MIN_SECONDS = 0.05
TOP_ROUTES = 10
SNAPSHOTS_KEPT = 500


@dataclass(frozen=True, slots=True)
class RouteCounts:
    """One route's cumulative histogram: (upper bound, cumulative count) pairs ending in +Inf."""

    buckets: tuple[tuple[float, float], ...]
    count: float
    seconds: float  # sum of durations
    errors: float  # 5xx responses


RouteKey = tuple[str, str]  # (method, route template)
RouteSnapshot = Mapping[RouteKey, RouteCounts]


def read_routes(metrics: Iterable[Metric]) -> dict[RouteKey, RouteCounts]:
    """Per (method, route) cumulative counts, summed over status classes."""
    buckets: dict[RouteKey, dict[float, float]] = {}
    counts: dict[RouteKey, list[float]] = {}  # [count, sum, errors]
    for metric in metrics:
        if metric.name != HTTP_DURATION:
            continue
        for sample in metric.samples:
            key = (sample.labels.get("method", ""), sample.labels.get("route", ""))
            totals = counts.setdefault(key, [0.0, 0.0, 0.0])
            if sample.name.endswith("_bucket"):
                bound = float(sample.labels["le"])
                per_route = buckets.setdefault(key, {})
                per_route[bound] = per_route.get(bound, 0.0) + sample.value
            elif sample.name.endswith("_count"):
                totals[0] += sample.value
                if sample.labels.get("status_class") == "5xx":
                    totals[2] += sample.value
            elif sample.name.endswith("_sum"):
                totals[1] += sample.value
    return {
        key: RouteCounts(tuple(sorted(buckets.get(key, {}).items())), *totals)
        for key, totals in counts.items()
    }


def difference(
    current: RouteSnapshot, earlier: RouteSnapshot | None
) -> dict[RouteKey, RouteCounts]:
    """What happened between two readings (a counter that went down restarted: take it whole)."""
    if earlier is None:
        return dict(current)
    result = {}
    for key, now in current.items():
        before = earlier.get(key)
        if before is None or now.count < before.count:
            result[key] = now
            continue
        previous = dict(before.buckets)
        result[key] = RouteCounts(
            tuple((bound, count - previous.get(bound, 0.0)) for bound, count in now.buckets),
            now.count - before.count,
            now.seconds - before.seconds,
            now.errors - before.errors,
        )
    return result


class RouteHistory:
    """Readings of the per-route histogram over time, so a window is a difference of two."""

    def __init__(self, kept: int = SNAPSHOTS_KEPT) -> None:
        self._readings: deque[tuple[datetime, RouteSnapshot]] = deque(maxlen=kept)

    def record(self, at: datetime, snapshot: RouteSnapshot) -> None:
        self._readings.append((at, snapshot))

    def at_or_before(self, moment: datetime) -> tuple[datetime, RouteSnapshot] | None:
        found = None
        for at, snapshot in self._readings:
            if at <= moment:
                found = (at, snapshot)
        return found

    def oldest(self) -> tuple[datetime, RouteSnapshot] | None:
        return self._readings[0] if self._readings else None


@dataclass(frozen=True, slots=True)
class RouteStat:
    method: str
    route: str
    requests: float
    seconds: float
    errors: float
    p50: float | None
    p95: float | None
    p99: float | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def label(self) -> str:
        return f"{self.method} {self.route}"


def route_stats(window: Mapping[RouteKey, RouteCounts]) -> list[RouteStat]:
    """Per-route figures, the routes spending the most total time first."""
    stats = [
        RouteStat(
            method,
            route,
            counts.count,
            counts.seconds,
            counts.errors,
            *(quantile_from_buckets(q, counts.buckets) for q in (0.5, 0.95, 0.99)),
        )
        for (method, route), counts in window.items()
        if counts.count > 0
    ]
    return sorted(stats, key=lambda stat: (-stat.seconds, stat.label))


@dataclass(frozen=True, slots=True)
class Window:
    """The span the per-route figures cover, as measured (not as asked)."""

    label: str
    seconds: float | None  # None: since the process started (rates cannot be computed)


@dataclass(frozen=True, slots=True)
class InjectedFault:
    """An active fault-injection plan: the cause of a slow or failing route in a drill."""

    path_prefix: str
    latency_ms: int
    error_rate: float


@dataclass(frozen=True, slots=True)
class HistoryP95:
    """The instance-wide p95 (ms) averaged over the window and over the window before it."""

    current: float | None
    previous: float | None


def analyze_requests(
    metrics: Iterable[Metric],
    *,
    now: datetime,
    window: timedelta,
    history: RouteHistory | None = None,
    fault: InjectedFault | None = None,
    p95_history: HistoryP95 | None = None,
) -> AreaReport:
    current = read_routes(metrics)
    skipped: list[Skipped] = []
    if not current:
        skipped.append(
            Skipped(
                Area.ENDPOINTS,
                "no request-duration histogram here: this process served no requests (run "
                "the analysis in the server, i.e. the Performance page, or pass --metrics-url)",
            )
        )
        return AreaReport(
            Area.ENDPOINTS, findings=_history_regression(p95_history), skipped=tuple(skipped)
        )
    earlier, previous = _window_bounds(history, now, window)
    span = _span(earlier, now)
    in_window = difference(current, earlier[1] if earlier else None)
    stats = route_stats(in_window)
    findings = _findings(stats, fault)
    if earlier is not None and previous is not None:
        findings += _regressions(stats, route_stats(difference(earlier[1], previous[1])))
    findings += _history_regression(p95_history)
    if history is not None:
        history.record(now, current)
    return AreaReport(
        Area.ENDPOINTS,
        findings=tuple(findings),
        skipped=tuple(skipped),
        tables=(_table(stats, span),),
    )


def _window_bounds(
    history: RouteHistory | None, now: datetime, window: timedelta
) -> tuple[tuple[datetime, RouteSnapshot] | None, tuple[datetime, RouteSnapshot] | None]:
    """The readings that start the window and the one before it (None: none that old)."""
    if history is None:
        return None, None
    earlier = history.at_or_before(now - window) or history.oldest()
    if earlier is None:
        return None, None
    previous = history.at_or_before(earlier[0] - window)
    return earlier, previous


def _span(earlier: tuple[datetime, RouteSnapshot] | None, now: datetime) -> Window:
    if earlier is None:
        return Window("since the process started", None)
    seconds = max((now - earlier[0]).total_seconds(), 1e-9)
    return Window(f"last {_duration(seconds)}", seconds)


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def _findings(stats: list[RouteStat], fault: InjectedFault | None) -> list[Finding]:
    total_seconds = sum(stat.seconds for stat in stats) or 1e-9
    total_requests = sum(stat.requests for stat in stats) or 1.0
    findings = []
    for stat in stats:
        if stat.requests < MIN_REQUESTS:
            continue
        share = stat.seconds / total_seconds
        slow = _slow_route(stat, share, fault) if stat.requests >= MIN_LATENCY_REQUESTS else None
        if slow is not None:
            findings.append(slow)
        if stat.error_rate >= ERROR_RATE_WARNING:
            findings.append(_failing_route(stat, stat.errors / total_requests, fault))
    return findings


def _covers(fault: InjectedFault | None, route: str) -> bool:
    return fault is not None and route.startswith(fault.path_prefix)


def _slow_route(stat: RouteStat, share: float, fault: InjectedFault | None) -> Finding | None:
    target = threshold_for(stat.route)
    if target is None or stat.p95 is None or stat.p95 <= target:
        return None
    recommendation = (
        f"Profile {stat.label}: its handler's queries (see the database findings), what it "
        "could read from the view cache (kit/cache.py `cached`), and work it could hand to a "
        "job; a p95 within "
        f"{target * 1000:.0f} ms is the latency SLO's target for it."
    )
    if _covers(fault, stat.route):
        assert fault is not None
        recommendation = (
            f"Fault injection adds {fault.latency_ms} ms to paths under {fault.path_prefix}: "
            "end the drill (DELETE /api/ops/faults) and check the p95 falls back. " + recommendation
        )
    return Finding(
        area=Area.ENDPOINTS,
        code="endpoints.slow_route",
        title=f"{stat.label} is slow: p95 {stat.p95 * 1000:.0f} ms (target {target * 1000:.0f} ms)",
        severity=Severity.CRITICAL if share >= CRITICAL_TIME_SHARE else Severity.WARNING,
        impact=share,
        evidence={
            "requests": int(stat.requests),
            "p50_ms": round((stat.p50 or 0) * 1000, 1),
            "p95_ms": round(stat.p95 * 1000, 1),
            "p99_ms": round((stat.p99 or 0) * 1000, 1),
            "share_of_request_time": round(share, 3),
            "target_ms": round(target * 1000),
        },
        recommendation=recommendation,
        subject=stat.label,
    )


def _failing_route(stat: RouteStat, share: float, fault: InjectedFault | None) -> Finding:
    recommendation = (
        f"Read the 500s of {stat.label} in the logs (one access line per request, with its "
        "request id and trace id) and fix the error they share."
    )
    if _covers(fault, stat.route):
        assert fault is not None
        recommendation = (
            f"Fault injection fails {fault.error_rate:.0%} of requests under "
            f"{fault.path_prefix}: end the drill (DELETE /api/ops/faults). " + recommendation
        )
    return Finding(
        area=Area.ENDPOINTS,
        code="endpoints.errors",
        title=f"{stat.label} fails {stat.error_rate:.1%} of requests",
        severity=Severity.CRITICAL if stat.error_rate >= ERROR_RATE_CRITICAL else Severity.WARNING,
        impact=max(share, stat.error_rate),
        evidence={
            "requests": int(stat.requests),
            "errors_5xx": int(stat.errors),
            "error_rate": round(stat.error_rate, 4),
        },
        recommendation=recommendation,
        subject=stat.label,
    )


def _regressions(stats: list[RouteStat], before: list[RouteStat]) -> list[Finding]:
    earlier = {stat.label: stat for stat in before if stat.requests >= MIN_LATENCY_REQUESTS}
    total_seconds = sum(stat.seconds for stat in stats) or 1e-9
    findings = []
    for stat in stats:
        old = earlier.get(stat.label)
        if old is None or stat.requests < MIN_LATENCY_REQUESTS or stat.p95 is None:
            continue
        if old.p95 is None:
            continue
        if stat.p95 < old.p95 * REGRESSION_FACTOR or stat.p95 - old.p95 < REGRESSION_MIN_SECONDS:
            continue
        findings.append(
            Finding(
                area=Area.ENDPOINTS,
                code="endpoints.regression",
                title=f"{stat.label} got slower: p95 {old.p95 * 1000:.0f} -> "
                f"{stat.p95 * 1000:.0f} ms against the previous window",
                severity=Severity.WARNING,
                impact=stat.seconds / total_seconds,
                evidence={
                    "p95_ms": round(stat.p95 * 1000, 1),
                    "previous_p95_ms": round(old.p95 * 1000, 1),
                    "requests": int(stat.requests),
                    "previous_requests": int(old.requests),
                },
                recommendation=f"Compare what changed for {stat.label} between the two "
                "windows (a deploy, data growth, a new query): its traces show where the "
                "time went.",
                subject=stat.label,
            )
        )
    return findings


def _history_regression(p95: HistoryP95 | None) -> tuple[Finding, ...]:
    if p95 is None or p95.current is None or p95.previous is None or p95.previous <= 0:
        return ()
    grew = p95.current - p95.previous
    if p95.current < p95.previous * REGRESSION_FACTOR or grew < REGRESSION_MIN_SECONDS * 1000:
        return ()
    over_target = p95.current > DEFAULT_THRESHOLD_SECONDS * 1000
    return (
        Finding(
            area=Area.ENDPOINTS,
            code="endpoints.regression",
            title=f"Response time p95 rose from {p95.previous:.0f} to {p95.current:.0f} ms "
            "against the previous window",
            severity=Severity.WARNING,
            impact=min(1.0, grew / max(p95.current, 1e-9)) * (1.0 if over_target else 0.5),
            evidence={"p95_ms": round(p95.current, 1), "previous_p95_ms": round(p95.previous, 1)},
            recommendation="Find the routes that slowed in the per-route table (most total "
            "time first) and the Service health page's charts for when it started.",
            subject="all routes",
        ),
    )


def _table(stats: list[RouteStat], span: Window) -> Table:
    rows = []
    for stat in stats[:TOP_ROUTES]:
        rate = stat.requests / span.seconds if span.seconds else math.nan
        rows.append(
            (
                stat.label,
                int(stat.requests),
                round(rate, 2) if not math.isnan(rate) else "-",
                _ms(stat.p50),
                _ms(stat.p95),
                _ms(stat.p99),
                round(stat.error_rate, 4),
                round(stat.seconds, 2),
            )
        )
    return Table(
        title=f"Routes by total time ({span.label})",
        columns=("route", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "5xx", "total s"),
        rows=tuple(rows),
        chart="total s",
        unit="s",
    )


def _ms(seconds: float | None) -> float | str:
    return round(seconds * 1000, 1) if seconds is not None else "-"
