"""Publish `flow_forecast_desired_replicas`: the replicas the forecast load needs, on /metrics.

The service-wide request rate comes from the metric history: every instance's sampler writes
`requests_total_count` (requests in its sample interval), so the sum of a step's rows over all
instances, divided by the step, is the service's requests per second in that step. The last
`history_seconds` of complete steps feed `forecast.desired_replicas`; the HPA reads the gauge
through prometheus-adapter as an External metric (deploy/k8s/base/autoscaling/hpa-web.yaml).

Without enough history (a new deployment, the sampler off) the gauge is set to the minimum, so
the External metric never asks for more than the reactive ones and never blocks a scale-in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from intuitivus_flow.alerts.engine import Clock, SystemClock
from intuitivus_flow.autoscaling.forecast import PrescalingOptions, desired_replicas
from intuitivus_flow.forecasting.series import floor_step, to_numpy
from intuitivus_flow.metrics_history.repository import MetricRepository
from intuitivus_flow.metrics_history.signals import Signal
from intuitivus_flow.observability.metrics import FlowMetrics, get_metrics
from intuitivus_flow.predictive.detectors import FloatArray, TimeArray

# Every 30 s: two HPA syncs see each value, and a step this long holds two samples per instance
# at the default 15 s sample interval.
PRESCALE_SECONDS = 30.0
STEP = timedelta(seconds=30)


async def service_rps_history(
    session: AsyncSession, *, now: datetime, history: timedelta
) -> tuple[TimeArray, FloatArray]:
    """(step starts, requests per second) of the complete steps in the last `history`."""
    end = floor_step(now, STEP)
    start = end - history
    buckets = await MetricRepository(session).buckets(
        Signal.requests_total_count.value,
        start=start,
        end=end,
        step_seconds=int(STEP.total_seconds()),
        instance=None,
    )
    times = np.array([to_numpy(start + STEP * b.index) for b in buckets], dtype="datetime64[us]")
    rps = np.array(
        [b.average * b.samples / STEP.total_seconds() for b in buckets], dtype=np.float64
    )
    return times, rps


@dataclass(slots=True)
class Prescaler:
    """One tick: forecast from the metric history, set the gauge; returns the replicas set."""

    sessions: async_sessionmaker[AsyncSession]
    clock: Clock = field(default_factory=SystemClock)
    metrics: FlowMetrics = field(default_factory=get_metrics)
    options: PrescalingOptions = field(default_factory=PrescalingOptions)

    async def run_once(self) -> int:
        async with self.sessions() as session:
            times, rps = await service_rps_history(
                session,
                now=self.clock.now(),
                history=timedelta(seconds=self.options.history_seconds),
            )
        replicas = desired_replicas(times, rps, self.options)
        if replicas is None:
            replicas = self.options.min_replicas
        self.metrics.forecast_desired_replicas.set(replicas)
        return replicas
