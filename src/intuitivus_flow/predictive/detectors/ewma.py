"""Exponential smoothing baseline: z-score of each point against an EWMA mean and variance."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from intuitivus_flow.predictive.detectors.alerting import AlertPolicy
from intuitivus_flow.predictive.detectors.base import FloatArray, TimeArray, median_step, span

MINUTE = np.timedelta64(1, "m")
HOUR = np.timedelta64(1, "h")


@dataclass(frozen=True)
class EwmaZDetector:
    """Classic control chart: alert when ``|x - mean| / std`` exceeds ``threshold`` sigmas.

    Mean and variance are exponentially weighted, updated after each point is scored, so
    scoring is causal. Kept as a measured baseline of the exponential-smoothing family; it has
    no notion of seasonality. Every window is a duration (issue 16), turned into samples with
    the series' median sampling interval: the smoothing ``memory`` (alpha = 1 / its samples),
    the ``warmup`` before any score and the ``quiet`` period after an alert. At 5-minute
    steps they are the former point counts (alpha 0.02, 50 points, 600 points).
    """

    name: str = "ewma"
    memory: np.timedelta64 = 250 * MINUTE
    memory_min: int = 5  # a mean over fewer samples is the last value, not a baseline
    warmup: np.timedelta64 = 250 * MINUTE
    warmup_min: int = 10
    threshold: float = 6.0
    quiet: np.timedelta64 = 50 * HOUR

    def policy(self, step: np.timedelta64) -> AlertPolicy:
        return AlertPolicy(threshold=self.threshold, refractory=span(self.quiet, step, 1))

    def alpha(self, step: np.timedelta64) -> float:
        return 1.0 / span(self.memory, step, self.memory_min)

    def score(self, times: TimeArray, values: FloatArray) -> FloatArray:
        step = median_step(times)
        z = self.zscores(np.asarray(values, dtype=np.float64), step)
        return self.policy(step).apply(z)

    def zscores(self, values: FloatArray, step: np.timedelta64) -> FloatArray:
        out = np.zeros(len(values))
        if len(values) == 0:
            return out
        mean, var = float(values[0]), 0.0
        alpha = self.alpha(step)
        warmup = span(self.warmup, step, self.warmup_min)
        for i, x in enumerate(values.tolist()):
            if i >= warmup:
                std = math.sqrt(var)
                out[i] = abs(x - mean) / std if std > 0 else (0.0 if x == mean else 1e6)
            diff = x - mean
            mean += alpha * diff
            var = (1 - alpha) * (var + alpha * diff * diff)
        return out
