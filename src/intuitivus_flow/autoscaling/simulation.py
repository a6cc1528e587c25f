"""Replay a load trace through the HPA, second by second, with the delays of the real pipeline.

What the model includes, in the order a load change travels through it:

- the app counts every request (`flow_http_responses_total`); Prometheus scrapes it every
  `scrape_seconds`; prometheus-adapter serves `irate(...[rate_window])` (the rate between the
  last two samples in the window, as the adapter rule does) or, with `instant_rate=False`,
  `rate(...)` over the whole window, per pod, as `flow_http_requests_per_second` (a pod
  appears after two scrapes);
- the HPA syncs every `sync_seconds` (at an offset, since the controller is not in phase with
  Prometheus) and runs `hpa.HorizontalAutoscaler` on that Pods metric (target 100 per pod)
  and, when predictive, on the forecast External metric (target average value 1);
- a new pod serves after `startup_seconds` (scheduling plus `serve` start to `/ready`,
  measured on the real server by the benchmark and passed in);
- predictive: the metric-history sampler records requests/s every `sample_seconds`; every
  `forecast_seconds` the forecaster (`forecast.desired_replicas`) reads the last
  `history_seconds` and the result is visible to the HPA after the next scrape.

CPU and memory are not modelled: they follow the request rate in this service, and the rate
metric is the one whose pipeline (scrape, rate window) is slowest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from intuitivus_flow.autoscaling import manifest
from intuitivus_flow.autoscaling.forecast import PrescalingOptions, desired_replicas
from intuitivus_flow.autoscaling.hpa import Behavior, HorizontalAutoscaler, MetricSample
from intuitivus_flow.autoscaling.trace import LoadTrace


@dataclass(frozen=True, slots=True)
class SimulationParameters:
    startup_seconds: float = 10.0
    sync_seconds: int = 15
    sync_offset_seconds: int = 7
    scrape_seconds: int = manifest.SCRAPE_SECONDS
    rate_window_seconds: int = 60
    instant_rate: bool = True
    target_rps_per_pod: float = 100.0
    min_replicas: int = 3
    max_replicas: int = 20
    sample_seconds: int = 15
    forecast_seconds: int = 60
    behavior: Behavior = field(default_factory=Behavior)
    prescaling: PrescalingOptions = field(default_factory=PrescalingOptions)

    @classmethod
    def from_manifest(cls, path: Path = manifest.WEB_HPA, **overrides: Any) -> SimulationParameters:
        """Bounds, target and behavior of the deployed HPA; pipeline timings from `overrides`."""
        hpa = manifest.load_hpa(path)
        low, high = manifest.replica_bounds(hpa)
        target = manifest.requests_target(hpa)
        return cls(
            min_replicas=low,
            max_replicas=high,
            target_rps_per_pod=target,
            behavior=manifest.behavior(hpa),
            prescaling=PrescalingOptions(
                target_rps_per_pod=target, min_replicas=low, max_replicas=high
            ),
            **overrides,
        )


@dataclass(frozen=True, slots=True)
class Decision:
    at: int
    before: int
    after: int


@dataclass(slots=True)
class Timeline:
    """Per second: offered load, replicas the HPA has set, pods ready to serve."""

    load: list[float] = field(default_factory=list)
    desired: list[int] = field(default_factory=list)
    ready: list[int] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)


@dataclass(slots=True)
class _Cluster:
    ready_at: list[float]  # one entry per pod of the Deployment

    def ready_count(self, t: float) -> int:
        return sum(1 for at in self.ready_at if at <= t)

    def scale_to(self, replicas: int, t: float, startup: float) -> None:
        while len(self.ready_at) < replicas:
            self.ready_at.append(t + startup)
        # The ReplicaSet removes pods that are not ready first, then the youngest.
        self.ready_at.sort()
        del self.ready_at[replicas:]


@dataclass(slots=True)
class _Prometheus:
    """Scraped samples of the cumulative request counter, and the rate() PromQL gives over them."""

    window: int
    instant: bool
    samples: list[tuple[int, float]] = field(default_factory=list)

    def scrape(self, t: int, counter: float) -> None:
        self.samples.append((t, counter))
        self.samples = [(at, c) for at, c in self.samples if at > t - 2 * self.window]

    def rate(self, t: int) -> float | None:
        inside = [(at, c) for at, c in self.samples if t - self.window < at <= t]
        if len(inside) < 2:
            return None
        (t0, c0), (t1, c1) = (inside[-2] if self.instant else inside[0]), inside[-1]
        return (c1 - c0) / (t1 - t0)


def simulate(trace: LoadTrace, params: SimulationParameters, *, predictive: bool) -> Timeline:
    hpa = HorizontalAutoscaler(
        min_replicas=params.min_replicas,
        max_replicas=params.max_replicas,
        behavior=params.behavior,
    )
    start = math.floor(trace.times[0])
    cluster = _Cluster(ready_at=[-math.inf] * params.min_replicas)
    prometheus = _Prometheus(params.rate_window_seconds, params.instant_rate)
    history: list[tuple[int, float]] = []
    forecast: int | None = None
    published: int | None = None
    counter = 0.0
    timeline = Timeline()
    for t in range(start, math.ceil(trace.times[-1]) + 1):
        load = trace.at(t)
        counter += load
        if t % params.scrape_seconds == 0:
            prometheus.scrape(t, counter)
            published = forecast
        if predictive and t % params.sample_seconds == 0:
            history.append((t, _recent_rate(trace, t, params.sample_seconds)))
        if predictive and t % params.forecast_seconds == 0:
            forecast = _forecast(history, t, params)
        if t % params.sync_seconds == params.sync_offset_seconds % params.sync_seconds:
            _sync(hpa, cluster, prometheus, published, t, params, timeline)
        timeline.load.append(load)
        timeline.desired.append(len(cluster.ready_at))
        timeline.ready.append(cluster.ready_count(t))
    return timeline


def _recent_rate(trace: LoadTrace, t: int, interval: int) -> float:
    # What the metric-history sampler writes: the counter's increase over its interval.
    return sum(trace.at(s) for s in range(t - interval + 1, t + 1)) / interval


def _forecast(history: list[tuple[int, float]], t: int, params: SimulationParameters) -> int | None:
    recent = [(at, v) for at, v in history if at > t - params.prescaling.history_seconds]
    if len(recent) < 3:
        return None
    times = np.array([np.datetime64(at, "s") for at, _ in recent], dtype="datetime64[us]")
    values = np.array([v for _, v in recent], dtype=np.float64)
    return desired_replicas(times, values, params.prescaling)


def _sync(
    hpa: HorizontalAutoscaler,
    cluster: _Cluster,
    prometheus: _Prometheus,
    forecast: int | None,
    t: int,
    params: SimulationParameters,
    timeline: Timeline,
) -> None:
    current = len(cluster.ready_at)
    metrics = []
    rate = prometheus.rate(t)
    if rate is not None:
        # A pod has a rate once two scrapes saw it ready; until then it is a missing pod.
        last_scrape = t - t % params.scrape_seconds
        reporting = cluster.ready_count(last_scrape - params.scrape_seconds)
        metrics.append(MetricSample(rate, params.target_rps_per_pod, reporting_pods=reporting))
    if forecast is not None:
        metrics.append(MetricSample(float(forecast), 1.0, reporting_pods=current))
    replicas = hpa.sync(float(t), current, metrics)
    if replicas != current:
        timeline.decisions.append(Decision(t, current, replicas))
        cluster.scale_to(replicas, t, params.startup_seconds)
