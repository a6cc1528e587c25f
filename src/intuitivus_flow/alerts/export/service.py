"""Write a rule set as Prometheus recording/alerting rules, an Alertmanager config and promtool
unit tests, so the same alerts can run in a standard Prometheus stack.

The recording rules compute the metric-history signals of the operations contract from the
Prometheus metrics part A exposes (``flow_http_request_duration_seconds`` and friends), in base
units (seconds, ratios). Thresholds, written in the signals' units (ms, percent), are converted
when the alert expressions are built.

    written = export_prometheus(default_rules(), Path("out"), options=ExportOptions())
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.utils import floatToGoString

from intuitivus_flow.alerts.rules import (
    IN_APP_SIGNALS,
    SLOW_REQUEST_SECONDS,
    BurnRateTier,
    RuleSet,
    Severity,
    SloKind,
    SloRule,
    ThresholdRule,
    format_duration,
    resolve_runbook_url,
)
from intuitivus_flow.observability.latency_slo import (
    EXCLUDED_ROUTES,
    PASSWORD_HASHING_SECONDS,
    routes_by_threshold,
)

JOB = "intuitivus-flow"
HTTP = "flow_http_request_duration_seconds"
# The HTTP histogram's buckets (contract); quantiles are interpolated inside them.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
SIGNAL_WINDOW = "5m"
_WINDOW = timedelta(minutes=5)  # SIGNAL_WINDOW as a duration
PLACEHOLDER_WEBHOOK = "http://alert-receiver.invalid/alerts"

RECORDING_FILE = "recording_rules.yml"
ALERTING_FILE = "alerting_rules.yml"
ALERTMANAGER_FILE = "alertmanager.yml"
TESTS_FILE = "tests/alerting_rules_test.yml"

# promtool test inputs: one synthetic instance of the app.
_TEST_TARGET = {"job": JOB, "instance": "app:8000"}
_TEST_ROUTE = {"method": "GET", "route": "/api/probe"}
_TEST_REQUESTS_PER_MINUTE = 10_000
_SLO_STEPS = 180  # minutes of input per SLO test: the traffic-guard case reads at 2h


# Builds promtool input series that make a signal read `value` for `steps` minutes.
Inputs = Callable[[float, "ExportOptions", int], list[dict[str, str]]]


class ExportError(ValueError):
    """The rule set cannot be exported (the message says which rule and why)."""


@dataclass(frozen=True)
class ExportOptions:
    page_webhook_url: str = PLACEHOLDER_WEBHOOK + "/page"
    ticket_webhook_url: str = PLACEHOLDER_WEBHOOK + "/ticket"
    runbook_base_url: str | None = None
    # (pool size + max overflow) / pool size: the history divides checked-out connections by
    # the pool's full capacity, but Prometheus only sees the pool size (summed over workers).
    db_pool_capacity_factor: float = 1.5


@dataclass(frozen=True)
class PromSignal:
    """How one metric-history signal is computed in Prometheus."""

    record: str
    expr: str
    scale: float  # threshold in the signal's unit x scale = threshold in the recorded unit
    # When a constant test input shows its true value: gauges at once, a ratio of two rates
    # after two samples, a plain rate only once its window is full (rate() divides by the whole
    # window, so it ramps up until then).
    settles_after: timedelta
    grid: Callable[[], list[float]]  # signal values a promtool test can produce exactly
    inputs: Inputs
    # A gauge copied as is reproduces a test value exactly; computed ratios may be off by an ulp.
    exact: bool = False


# ---------------------------------------------------------------- helpers for PromQL text


def _num(value: float) -> str:
    """A float as PromQL/YAML text without binary noise (14.4 * 0.005 → 0.072)."""
    return format(value, ".12g")


def _labels(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{key}="{value}"' for key, value in labels.items()) + "}"


def _requests_rate(window: str) -> str:
    return f"sum by (job) (rate({HTTP}_count[{window}]))"


def _errors_ratio(window: str) -> str:
    # `or 0 * total`: with no 5xx ever seen the error series do not exist, and the ratio
    # must read 0 rather than vanish (dashboards, and alerts comparing with `<`).
    errors = f'sum by (job) (rate({HTTP}_count{{status_class="5xx"}}[{window}]))'
    total = _requests_rate(window)
    return f"({errors} or 0 * {total})\n/\n{total}"


def _le(bound: float) -> str:
    """A bucket bound as the Prometheus client writes the `le` label (2.0, never 2)."""
    text: str = floatToGoString(bound)  # type: ignore[no-untyped-call]  # the client's own
    return text


def _routes(routes: Iterable[str]) -> str:
    """A raw PromQL string holding a regex that matches exactly these route templates."""
    return "`" + "|".join(re.escape(route) for route in sorted(routes)) + "`"


def _latency_fast_rate(window: str) -> str:
    """Covered requests within their route's threshold (observability/latency_slo.py): the
    default bucket for most routes, each own-threshold group's bucket for its routes."""
    groups = routes_by_threshold()
    own = [route for routes in groups.values() for route in routes]
    bucket = f"{HTTP}_bucket"
    default = [*EXCLUDED_ROUTES, *own]
    parts = [
        f'rate({bucket}{{le="{_le(SLOW_REQUEST_SECONDS)}",route!~{_routes(default)}}}[{window}])'
    ]
    parts += [
        f'rate({bucket}{{le="{_le(seconds)}",route=~{_routes(routes)}}}[{window}])'
        for seconds, routes in groups.items()
    ]
    # The parts differ in `le` and `route`, so `or` is their union, summed per job.
    return "sum by (job) (\n  " + "\nor\n  ".join(parts) + "\n)"


def _latency_requests_rate(window: str) -> str:
    return f"sum by (job) (rate({HTTP}_count{{route!~{_routes(EXCLUDED_ROUTES)}}}[{window}]))"


def _slow_ratio(window: str) -> str:
    return f"1 - (\n{_latency_fast_rate(window)}\n/\n{_latency_requests_rate(window)}\n)"


def _quantile(q: float) -> str:
    return f"histogram_quantile({_num(q)}, sum by (job, le) (rate({HTTP}_bucket[{SIGNAL_WINDOW}])))"


# ---------------------------------------------------------------- promtool input builders


def _series(name: str, labels: dict[str, str], per_minute: float, steps: int) -> dict[str, str]:
    return {"series": f"{name}{_labels(labels)}", "values": f"0+{_num(per_minute)}x{steps}"}


def _gauge(name: str, labels: dict[str, str], value: float, steps: int) -> dict[str, str]:
    return {"series": f"{name}{_labels(labels)}", "values": f"{_num(value)}+0x{steps}"}


def _histogram_inputs(q: float) -> Inputs:
    """All requests in the one bucket whose interpolated q-quantile is the wanted value."""

    def inputs(value_ms: float, _: ExportOptions, steps: int) -> list[dict[str, str]]:
        upper = next(b for b in HTTP_BUCKETS if _quantile_in_bucket(b, q) * 1000 == value_ms)
        labels = {**_TEST_TARGET, **_TEST_ROUTE, "status_class": "2xx"}
        n = _TEST_REQUESTS_PER_MINUTE
        rows = [
            _series(f"{HTTP}_bucket", {**labels, "le": _num(b)}, n if b >= upper else 0, steps)
            for b in HTTP_BUCKETS
        ]
        rows.append(_series(f"{HTTP}_bucket", {**labels, "le": "+Inf"}, n, steps))
        rows.append(_series(f"{HTTP}_count", labels, n, steps))
        return rows

    return inputs


def _quantile_in_bucket(upper: float, q: float) -> float:
    # histogram_quantile interpolates linearly inside the bucket; the first starts at 0.
    index = HTTP_BUCKETS.index(upper)
    lower = HTTP_BUCKETS[index - 1] if index else 0.0
    return lower + (upper - lower) * q


def _histogram_grid(q: float) -> Callable[[], list[float]]:
    return lambda: [_quantile_in_bucket(b, q) * 1000 for b in HTTP_BUCKETS]


def _error_rate_inputs(ratio: float, _: ExportOptions, steps: int) -> list[dict[str, str]]:
    n = _TEST_REQUESTS_PER_MINUTE
    errors = round(ratio * n)
    base = {**_TEST_TARGET, **_TEST_ROUTE}
    return [
        _series(f"{HTTP}_count", {**base, "status_class": "5xx"}, errors, steps),
        _series(f"{HTTP}_count", {**base, "status_class": "2xx"}, n - errors, steps),
    ]


def _rps_inputs(rps: float, _: ExportOptions, steps: int) -> list[dict[str, str]]:
    labels = {**_TEST_TARGET, **_TEST_ROUTE, "status_class": "2xx"}
    return [_series(f"{HTTP}_count", labels, rps * 60, steps)]


def _gauge_inputs(name: str, scale: float, extra: dict[str, str] | None = None) -> Inputs:
    def inputs(value: float, _: ExportOptions, steps: int) -> list[dict[str, str]]:
        return [_gauge(name, {**_TEST_TARGET, **(extra or {})}, value * scale, steps)]

    return inputs


def _pool_inputs(percent: float, options: ExportOptions, steps: int) -> list[dict[str, str]]:
    size = 10.0
    checked_out = percent / 100 * size * options.db_pool_capacity_factor
    return [
        _gauge("flow_db_pool_size", _TEST_TARGET, size, steps),
        _gauge("flow_db_pool_checked_out", _TEST_TARGET, checked_out, steps),
    ]


def _steps(count: int, size: float) -> Callable[[], list[float]]:
    return lambda: [i * size for i in range(count + 1)]


def _dependency(component: str) -> PromSignal:
    return PromSignal(
        record=f"flow:{component}_up",
        expr=f'min without (pid) (flow_dependency_up{{component="{component}"}})',
        scale=1,
        settles_after=timedelta(0),
        grid=lambda: [0.0, 1.0],
        inputs=_gauge_inputs("flow_dependency_up", 1, {"component": component}),
        exact=True,
    )


def _percent_gauge(record: str, metric: str) -> PromSignal:
    return PromSignal(
        record=record,
        expr=f"max without (pid) ({metric})",
        scale=0.01,
        settles_after=timedelta(0),
        grid=_steps(100, 1),
        inputs=_gauge_inputs(metric, 0.01),
        exact=True,
    )


def _latency(q: float) -> PromSignal:
    name = f"p{round(q * 100)}"
    return PromSignal(
        record=f"flow:http_request_duration_seconds:{name}_{SIGNAL_WINDOW}",
        expr=_quantile(q),
        scale=0.001,
        settles_after=timedelta(minutes=1),
        grid=_histogram_grid(q),
        inputs=_histogram_inputs(q),
    )


def prom_signals(options: ExportOptions) -> dict[str, PromSignal]:
    """Every threshold signal of the contract, as Prometheus computes it."""
    pool = (
        "sum without (pid) (flow_db_pool_checked_out)\n/\n"
        f"(sum without (pid) (flow_db_pool_size) * {_num(options.db_pool_capacity_factor)})"
    )
    return {
        "response_time_p50_ms": _latency(0.5),
        "response_time_p95_ms": _latency(0.95),
        "response_time_p99_ms": _latency(0.99),
        "error_rate_ratio": PromSignal(
            record=f"flow:http_errors_per_request:ratio_rate{SIGNAL_WINDOW}",
            expr=_errors_ratio(SIGNAL_WINDOW),
            scale=1,
            settles_after=timedelta(minutes=1),
            grid=_steps(1000, 0.001),
            inputs=_error_rate_inputs,
        ),
        "requests_per_second": PromSignal(
            record=f"flow:http_requests:rate{SIGNAL_WINDOW}",
            expr=_requests_rate(SIGNAL_WINDOW),
            scale=1,
            settles_after=_WINDOW + timedelta(minutes=1),
            grid=_steps(2000, 0.5),
            inputs=_rps_inputs,
        ),
        "cpu_usage_percent": _percent_gauge("flow:process_cpu:ratio", "flow_process_cpu_ratio"),
        "memory_usage_percent": _percent_gauge(
            "flow:process_memory:ratio", "flow_process_memory_ratio"
        ),
        "disk_usage_percent": _percent_gauge(
            "flow:data_dir_disk_used:ratio", "flow_data_dir_disk_used_ratio"
        ),
        "db_connections_percent": PromSignal(
            record="flow:db_pool_checked_out:ratio",
            expr=pool,
            scale=0.01,
            settles_after=timedelta(0),
            grid=_steps(100, 1),
            inputs=_pool_inputs,
        ),
        "queue_lag_seconds": PromSignal(
            record="flow:job_queue_lag_seconds:max",
            expr="max without (pid) (flow_job_queue_lag_seconds)",
            scale=1,
            settles_after=timedelta(0),
            grid=_steps(3600, 1),
            inputs=_gauge_inputs("flow_job_queue_lag_seconds", 1, {"queue": "default"}),
            exact=True,
        ),
        "database_up": _dependency("database"),
        "redis_up": _dependency("redis"),
    }


# ---------------------------------------------------------------- recording rules


def slo_ratio_record(rule: SloRule, window: timedelta) -> str:
    kind = "errors" if rule.kind is SloKind.availability else "slow"
    return f"flow:slo_{kind}_per_request:ratio_rate{format_duration(window)}"


def requests_rate_record(window: timedelta) -> str:
    return f"flow:http_requests:rate{format_duration(window)}"


def latency_requests_rate_record(window: timedelta) -> str:
    return f"flow:slo_latency_requests:rate{format_duration(window)}"


def guard_rate_record(rule: SloRule, window: timedelta) -> str:
    """The traffic the SLO covers: every request, or those the latency SLO covers."""
    if rule.kind is SloKind.availability:
        return requests_rate_record(window)
    return latency_requests_rate_record(window)


def recording_rules(rules: RuleSet, options: ExportOptions) -> dict[str, Any]:
    signals = [
        {"record": signal.record, "expr": signal.expr} for signal in prom_signals(options).values()
    ]
    return {
        "groups": [
            {"name": "flow-signals", "rules": signals},
            {"name": "flow-slo", "rules": list(_slo_records(rules))},
        ]
    }


def _slo_records(rules: RuleSet) -> Iterator[dict[str, Any]]:
    # The 5m request rate is already a signal; every other window is recorded once.
    seen = {requests_rate_record(timedelta(minutes=5))}
    for rule in rules.slos:
        for window in rule.windows:
            text = format_duration(window)
            ratio = _errors_ratio(text) if rule.kind is SloKind.availability else _slow_ratio(text)
            yield {
                "record": slo_ratio_record(rule, window),
                "expr": ratio,
                "labels": {"slo": rule.slo},
            }
            record = guard_rate_record(rule, window)
            if record not in seen:
                seen.add(record)
                covered = rule.kind is SloKind.latency
                expr = _latency_requests_rate(text) if covered else _requests_rate(text)
                yield {"record": record, "expr": expr}


# ---------------------------------------------------------------- alerting rules


def threshold_expr(rule: ThresholdRule, options: ExportOptions) -> str:
    signal = prom_signals(options)[rule.signal]
    return f"{signal.record} {rule.operator} {_num(rule.threshold * signal.scale)}"


def burn_rate_expr(rule: SloRule, tier: BurnRateTier) -> str:
    limit = _num(tier.burn_rate * rule.error_budget)
    selector = _labels({"slo": rule.slo})
    long_ratio = slo_ratio_record(rule, tier.long_window) + selector
    short_ratio = slo_ratio_record(rule, tier.short_window) + selector
    rate = guard_rate_record(rule, tier.long_window)
    guard = f"{rate} * 3600 >= {_num(rule.min_requests_per_hour)}"
    return (
        f"(\n  {long_ratio} > {limit}\nand\n  {short_ratio} > {limit}\n)\nand on (job)\n  {guard}"
    )


def _annotations(summary: str, description: str, runbook: str) -> dict[str, str]:
    return {"summary": summary, "description": description, "runbook_url": runbook}


def exported_thresholds(rules: RuleSet) -> list[ThresholdRule]:
    """Threshold rules Prometheus can evaluate (the in-app backup signals have no series)."""
    return [rule for rule in rules.thresholds if rule.signal not in IN_APP_SIGNALS]


def threshold_alert(rule: ThresholdRule, options: ExportOptions) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "alert": rule.name,
        "expr": threshold_expr(rule, options),
        "for": format_duration(rule.for_),
    }
    if rule.keep_firing_for:
        alert["keep_firing_for"] = format_duration(rule.keep_firing_for)
    alert["labels"] = threshold_labels(rule)
    alert["annotations"] = _annotations(
        rule.summary,
        rule.description,
        resolve_runbook_url(rule.runbook_url, options.runbook_base_url),
    )
    return alert


def threshold_labels(rule: ThresholdRule) -> dict[str, str]:
    return {"severity": rule.severity.value, **rule.labels}


def tier_labels(rule: SloRule, tier: BurnRateTier) -> dict[str, str]:
    return {
        "severity": tier.severity.value,
        "slo": rule.slo,
        "long_window": format_duration(tier.long_window),
        "short_window": format_duration(tier.short_window),
        **rule.labels,
    }


def tier_description(rule: SloRule, tier: BurnRateTier) -> str:
    windows = f"{format_duration(tier.long_window)} and {format_duration(tier.short_window)}"
    return f"{rule.description} Burn rate above {_num(tier.burn_rate)}x over {windows}.".strip()


def slo_alerts(rule: SloRule, options: ExportOptions) -> list[dict[str, Any]]:
    # No `for`: the short window already demands the burn is still happening (workbook ch. 5).
    runbook = resolve_runbook_url(rule.runbook_url, options.runbook_base_url)
    return [
        {
            "alert": rule.name,
            "expr": burn_rate_expr(rule, tier),
            "labels": tier_labels(rule, tier),
            "annotations": _annotations(rule.summary, tier_description(rule, tier), runbook),
        }
        for tier in rule.tiers
    ]


def alerting_rules(rules: RuleSet, options: ExportOptions) -> dict[str, Any]:
    thresholds = [threshold_alert(rule, options) for rule in exported_thresholds(rules)]
    slos = [alert for rule in rules.slos for alert in slo_alerts(rule, options)]
    groups = [{"name": "flow-thresholds", "rules": thresholds}]
    if slos:
        groups.append({"name": "flow-slo-burn-rates", "rules": slos})
    return {"groups": groups}


# ---------------------------------------------------------------- Alertmanager


def alertmanager_config(rules: RuleSet, options: ExportOptions) -> dict[str, Any]:
    """Critical pages; warning and info become tickets; inhibitions mirror the rule set."""
    webhook = {"send_resolved": True, "max_alerts": 0}
    config: dict[str, Any] = {
        "route": {
            "receiver": "ticket",
            "group_by": ["alertname"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "12h",
            "routes": [
                {
                    "receiver": "page",
                    "matchers": [f'severity="{Severity.critical.value}"'],
                    "repeat_interval": "1h",
                },
                {
                    "receiver": "ticket",
                    "matchers": [f'severity=~"{Severity.warning.value}|{Severity.info.value}"'],
                },
            ],
        },
        "receivers": [
            {"name": "page", "webhook_configs": [{"url": options.page_webhook_url, **webhook}]},
            {
                "name": "ticket",
                "webhook_configs": [{"url": options.ticket_webhook_url, **webhook}],
            },
        ],
    }
    if rules.inhibitions:
        config["inhibit_rules"] = [
            {
                "source_matchers": [f'alertname="{inhibition.source}"'],
                "target_matchers": [f'alertname=~"{"|".join(inhibition.targets)}"'],
                "equal": list(inhibition.equal),
            }
            for inhibition in rules.inhibitions
        ]
    return config


# ---------------------------------------------------------------- promtool unit tests


def _nearest(
    grid: list[float], target: float, want: Callable[[float], bool], *, exact: bool
) -> float | None:
    """The reachable value closest to the threshold on the wanted side of it.

    Unless the signal is exact, the threshold itself is avoided: float rounding in PromQL
    could tip it to the other side. Zero is always exact (a flat counter rates 0, and 0/x is 0).
    """
    tolerance = 1e-9 * max(1.0, abs(target))
    candidates = [v for v in grid if want(v) and (exact or v == 0 or abs(v - target) > tolerance)]
    return min(candidates, key=lambda v: abs(v - target)) if candidates else None


def threshold_tests(rule: ThresholdRule, options: ExportOptions) -> list[dict[str, Any]]:
    """Just beyond the threshold it fires after `for` (pending before); just inside, never."""
    signal = prom_signals(options)[rule.signal]
    grid = signal.grid()
    breach = _nearest(grid, rule.threshold, rule.breached, exact=signal.exact)
    calm = _nearest(grid, rule.threshold, lambda v: not rule.breached(v), exact=signal.exact)
    if breach is None or calm is None:
        raise ExportError(
            f"{rule.name}: cannot build promtool inputs for {rule.signal} "
            f"{rule.operator} {_num(rule.threshold)} (no reachable value on both sides)"
        )
    # Rates have no value before the second sample, so the condition cannot hold any earlier;
    # it surely holds once the value settled. Check just before the earliest possible firing
    # and just after the latest.
    first_value = timedelta(0) if signal.settles_after == timedelta(0) else timedelta(minutes=1)
    step = timedelta(minutes=1)
    pending_at = first_value + rule.for_ - step
    fire_at = signal.settles_after + rule.for_ + 2 * step
    # A ramping rate may cross a `<` threshold on its way up; keep_firing_for must run out too.
    quiet_at = fire_at + rule.for_ + rule.keep_firing_for
    steps = int(quiet_at / step) + 10  # the inputs outlast every check
    expected = {
        "exp_labels": {**_expected_target(rule.signal), **threshold_labels(rule)},
        "exp_annotations": threshold_alert(rule, options)["annotations"],
    }
    checks: list[dict[str, Any]] = []
    if pending_at >= first_value:
        checks.append(_check(rule.name, pending_at, []))
    checks.append(_check(rule.name, fire_at, [expected]))
    return [
        {
            "name": f"{rule.name} fires after {format_duration(rule.for_)} at {_num(breach)}",
            "interval": "1m",
            "input_series": signal.inputs(breach, options, steps),
            "alert_rule_test": checks,
        },
        {
            "name": f"{rule.name} stays quiet at {_num(calm)}",
            "interval": "1m",
            "input_series": signal.inputs(calm, options, steps),
            "alert_rule_test": [_check(rule.name, quiet_at, [])],
        },
    ]


def _expected_target(signal: str) -> dict[str, str]:
    """Labels the recording rule keeps from the test inputs."""
    if signal in {"error_rate_ratio", "requests_per_second"} or signal.startswith("response_time"):
        return {"job": JOB}
    extra = {"queue": "default"} if signal == "queue_lag_seconds" else {}
    if signal in {"database_up", "redis_up"}:
        extra = {"component": signal.removesuffix("_up")}
    return {**_TEST_TARGET, **extra}


def _check(alert: str, at: timedelta, expected: list[dict[str, Any]]) -> dict[str, Any]:
    return {"alertname": alert, "eval_time": format_duration(at), "exp_alerts": expected}


def _slo_inputs(rule: SloRule, bad_ratio: float, per_minute: float) -> list[dict[str, str]]:
    bad = per_minute * bad_ratio
    base = {**_TEST_TARGET, **_TEST_ROUTE}
    if rule.kind is SloKind.availability:
        return [
            _series(f"{HTTP}_count", {**base, "status_class": "5xx"}, bad, _SLO_STEPS),
            _series(f"{HTTP}_count", {**base, "status_class": "2xx"}, per_minute - bad, _SLO_STEPS),
        ]
    # Fast requests take 0.3 s (bucket 0.5), slow ones 0.7 s (bucket 1).
    return _route_latency_inputs(_TEST_ROUTE["route"], [(0.3, per_minute - bad), (0.7, bad)])


def _route_latency_inputs(route: str, traffic: list[tuple[float, float]]) -> list[dict[str, str]]:
    """Histogram series of one route: per minute, `count` requests taking `seconds` each."""
    labels = {**_TEST_TARGET, "method": "GET", "route": route, "status_class": "2xx"}
    total = sum(count for _, count in traffic)
    rows = [
        _series(
            f"{HTTP}_bucket",
            {**labels, "le": _le(b)},
            sum(count for seconds, count in traffic if seconds <= b),
            _SLO_STEPS,
        )
        for b in HTTP_BUCKETS
    ]
    rows.append(_series(f"{HTTP}_bucket", {**labels, "le": "+Inf"}, total, _SLO_STEPS))
    rows.append(_series(f"{HTTP}_count", labels, total, _SLO_STEPS))
    return rows


def _slo_expected(rule: SloRule, tiers: list[BurnRateTier], options: ExportOptions) -> list[Any]:
    runbook = resolve_runbook_url(rule.runbook_url, options.runbook_base_url)
    return [
        {
            "exp_labels": {"job": JOB, **tier_labels(rule, tier)},
            "exp_annotations": _annotations(rule.summary, tier_description(rule, tier), runbook),
        }
        for tier in tiers
    ]


@dataclass(frozen=True)
class _SloCase:
    title: str
    bad_ratio: float
    per_minute: float
    fires: list[BurnRateTier]
    at: timedelta = timedelta(minutes=30)


def _slo_cases(rule: SloRule) -> list[_SloCase]:
    rates = sorted({tier.burn_rate for tier in rule.tiers})
    budget, busy = rule.error_budget, _TEST_REQUESTS_PER_MINUTE
    fast_burn = min(1.0, rates[-1] * 1.5 * budget)
    cases = [
        _SloCase("every tier fires on a fast burn", fast_burn, busy, list(rule.tiers)),
        _SloCase("stays quiet within budget", rates[0] / 2 * budget, busy, []),
    ]
    if len(rates) > 1:
        burn = (rates[0] + rates[1]) / 2
        slowest = [tier for tier in rule.tiers if tier.burn_rate < burn]
        cases.append(
            _SloCase(f"only the slowest tiers fire at {_num(burn)}x", burn * budget, busy, slowest)
        )
    if rule.min_requests_per_hour > 0:
        # Every request bad, but half the guarded traffic; read after the 1h window is full.
        trickle = rule.min_requests_per_hour / 2 / 60
        cases.append(
            _SloCase("stays quiet under the traffic guard", 1.0, trickle, [], timedelta(hours=2))
        )
    return cases


def slo_tests(rule: SloRule, options: ExportOptions) -> list[dict[str, Any]]:
    """A fast burn fires every tier, a moderate one only the slowest, a burn within budget
    nothing, and (when guarded) too little traffic nothing even with every request bad."""
    return [
        {
            "name": f"{rule.name} {case.title}",
            "interval": "1m",
            "input_series": _slo_inputs(rule, case.bad_ratio, case.per_minute),
            "alert_rule_test": [
                _check(rule.name, case.at, _slo_expected(rule, case.fires, options))
            ],
        }
        for case in _slo_cases(rule)
    ]


def latency_policy_tests(rule: SloRule, options: ExportOptions) -> list[dict[str, Any]]:
    """Half the traffic fast on an ordinary route, half slow on a route with its own policy:
    excluded routes and password routes within their threshold burn nothing; password routes
    beyond it burn like any other (so the exclusion is not simply "ignore the route")."""
    if rule.kind is not SloKind.latency:
        return []
    excluded = sorted(EXCLUDED_ROUTES)[0]
    password = routes_by_threshold()[PASSWORD_HASHING_SECONDS][0]
    limit = _num(PASSWORD_HASHING_SECONDS)
    cases = [
        (f"ignores slow requests to {excluded}", excluded, 7.0, []),
        (f"allows {password} {limit}s", password, PASSWORD_HASHING_SECONDS * 0.75, []),
        (
            f"counts {password} beyond {limit}s",
            password,
            PASSWORD_HASHING_SECONDS * 1.5,
            rule.tiers,
        ),
    ]
    busy = _TEST_REQUESTS_PER_MINUTE
    return [
        {
            "name": f"{rule.name} {title}",
            "interval": "1m",
            "input_series": _route_latency_inputs(_TEST_ROUTE["route"], [(0.3, busy)])
            + _route_latency_inputs(route, [(seconds, busy)]),
            "alert_rule_test": [
                _check(rule.name, timedelta(minutes=30), _slo_expected(rule, fires, options))
            ],
        }
        for title, route, seconds, fires in cases
    ]


def promtool_tests(rules: RuleSet, options: ExportOptions) -> dict[str, Any]:
    tests = [test for rule in exported_thresholds(rules) for test in threshold_tests(rule, options)]
    tests += [test for rule in rules.slos for test in slo_tests(rule, options)]
    tests += [test for rule in rules.slos for test in latency_policy_tests(rule, options)]
    return {
        # Paths are relative to this file, which lives in DIR/tests/.
        "rule_files": [f"../{RECORDING_FILE}", f"../{ALERTING_FILE}"],
        "evaluation_interval": "1m",
        "tests": tests,
    }


# ---------------------------------------------------------------- writing


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (PromQL) as literal blocks, so the files read like hand-written ones."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(document: dict[str, Any]) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)


def export_prometheus(rules: RuleSet, out: Path, *, options: ExportOptions) -> list[Path]:
    """Write the four files into ``out`` (created if needed); returns their paths."""
    documents = {
        RECORDING_FILE: recording_rules(rules, options),
        ALERTING_FILE: alerting_rules(rules, options),
        ALERTMANAGER_FILE: alertmanager_config(rules, options),
        TESTS_FILE: promtool_tests(rules, options),
    }
    written = []
    for name, document in documents.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        header = skipped_predictive(rules) if name == ALERTING_FILE else ""
        path.write_text(header + dump(document), encoding="utf-8")
        written.append(path)
    return written


def skipped_predictive(rules: RuleSet) -> str:
    """YAML comments naming the predictive rules left out of the export, and why."""
    if not rules.predictive:
        return ""
    lines = [
        "# Not exported: predictive rules need the models intuitivus-flow trains on its metric",
        "# history (anomaly detection, forecast breach); Prometheus has no equivalent. They keep",
        "# running in the built-in alert engine:",
    ]
    lines += [
        f"#   - {rule.name} (kind: {rule.kind.value}, signal: {rule.signal})"
        for rule in rules.predictive
    ]
    return "\n".join(lines) + "\n"
