"""A signal of the metric history as the models see it: one value per step, on a fixed grid.

Samples are averaged per step across instances (the models are per signal, not per instance:
the alert is about the service, and a newly started instance must not start a cold model).
Steps are aligned to the Unix epoch, so every reader (trainer, evaluator, API) sees the same
buckets whatever its range; only complete steps are returned, since a half-filled step would
look like an anomaly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from intuitivus_flow.metrics_history.repository import MetricRepository
from intuitivus_flow.predictive.detectors import FloatArray, TimeArray

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class StepSeries:
    times: TimeArray  # step starts, datetime64[us] (UTC, naive as numpy wants it)
    values: FloatArray
    step: timedelta

    def __len__(self) -> int:
        return len(self.values)

    def tail(self, count: int) -> StepSeries:
        return StepSeries(self.times[-count:], self.values[-count:], self.step)

    def since(self, start: datetime) -> StepSeries:
        keep = self.times >= to_numpy(start)
        return StepSeries(self.times[keep], self.values[keep], self.step)

    def moment(self, index: int) -> datetime:
        return to_datetime(self.times[index])


def floor_step(moment: datetime, step: timedelta) -> datetime:
    """The start of the step holding `moment` (steps aligned to the epoch)."""
    return EPOCH + step * ((moment - EPOCH) // step)


def to_numpy(moment: datetime) -> np.datetime64:
    return np.datetime64(moment.astimezone(UTC).replace(tzinfo=None), "us")


def to_datetime(moment: np.datetime64) -> datetime:
    micros = int(moment.astype("datetime64[us]").astype(np.int64))
    return EPOCH + timedelta(microseconds=micros)


async def load_series(
    metrics: MetricRepository, signal: str, *, start: datetime, now: datetime, step: timedelta
) -> StepSeries:
    """Complete steps of `signal` from the step holding `start` to the last one ending by `now`."""
    first = floor_step(start, step)
    end = floor_step(now, step)
    if end <= first:
        return StepSeries(np.empty(0, "datetime64[us]"), np.empty(0), step)
    seconds = int(step.total_seconds())
    buckets = await metrics.buckets(
        signal, start=first, end=end, step_seconds=seconds, instance=None
    )
    times = np.array([to_numpy(first + step * b.index) for b in buckets], dtype="datetime64[us]")
    values = np.array([b.average for b in buckets], dtype=np.float64)
    return StepSeries(times, values, step)
