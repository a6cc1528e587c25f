"""`flow_forecast_desired_replicas` computed from the metric history, on both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from intuitivus_flow.autoscaling.prescaling import Prescaler
from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.metrics_history import service as history
from intuitivus_flow.metrics_history.models import MetricSample
from intuitivus_flow.observability.metrics import FlowMetrics

# A step boundary (30 s) plus a few seconds: the step in progress must be left out.
NOW = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(seconds=40)
LAST_COMPLETE_STEP = NOW.replace(second=0)


class FixedClock:
    def now(self) -> datetime:
        return NOW


async def write_counts(app: Any, rps_of_step: list[float], *, instances: int = 2) -> None:
    """Per instance, two 15 s samples per 30 s step, sharing the service's rate evenly."""
    first = LAST_COMPLETE_STEP - timedelta(seconds=30 * (len(rps_of_step) - 1))
    rows = []
    for index, rps in enumerate(rps_of_step):
        for half in (0, 15):
            at = first + timedelta(seconds=30 * index + half)
            for instance in range(instances):
                count = rps / instances * 15
                rows.append(
                    MetricSample(
                        name="requests_total_count", time=at, instance=f"i{instance}", value=count
                    )
                )
    # The step in progress (a burst nobody has finished counting) must not be read.
    rows.append(MetricSample(name="requests_total_count", time=NOW, instance="i0", value=1e6))
    async with unit_of_work(app.state.context.sessions) as session:
        await history.record(session, rows)


def prescaler(app: Any) -> tuple[Prescaler, FlowMetrics]:
    metrics = FlowMetrics(CollectorRegistry())
    return Prescaler(app.state.context.sessions, clock=FixedClock(), metrics=metrics), metrics


async def test_rising_rate_publishes_the_replicas_fifteen_minutes_ahead(app: Any) -> None:
    # 200 rps rising by 20 per 30 s step: 380 in the last step, 980 fifteen minutes later.
    await write_counts(app, [200.0 + 20 * k for k in range(10)])
    job, metrics = prescaler(app)
    assert await job.run_once() == 10
    exposed = generate_latest(metrics.registry).decode()
    assert "flow_forecast_desired_replicas 10.0" in exposed


async def test_steady_rate_publishes_what_it_needs_now(app: Any) -> None:
    await write_counts(app, [650.0] * 10, instances=3)
    job, _ = prescaler(app)
    assert await job.run_once() == 7


async def test_no_history_publishes_the_minimum(app: Any) -> None:
    job, metrics = prescaler(app)
    assert await job.run_once() == 3
    assert "flow_forecast_desired_replicas 3.0" in generate_latest(metrics.registry).decode()
