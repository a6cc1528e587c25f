"""Exponential smoothing baseline: z-score of each point against an EWMA mean and variance."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from intuitivus_flow.predictive.detectors.alerting import AlertPolicy
from intuitivus_flow.predictive.detectors.base import FloatArray, TimeArray


@dataclass(frozen=True)
class EwmaZDetector:
    """Classic control chart: alert when ``|x - mean| / std`` exceeds ``threshold`` sigmas.

    Mean and variance are exponentially weighted (``alpha``), updated after each point is
    scored, so scoring is causal. Kept as a measured baseline of the exponential-smoothing
    family; it has no notion of seasonality.
    """

    name: str = "ewma"
    alpha: float = 0.02
    warmup: int = 50
    policy: AlertPolicy = field(default_factory=lambda: AlertPolicy(threshold=6.0, refractory=600))

    def score(self, times: TimeArray, values: FloatArray) -> FloatArray:
        return self.policy.apply(self.zscores(np.asarray(values, dtype=np.float64)))

    def zscores(self, values: FloatArray) -> FloatArray:
        out = np.zeros(len(values))
        if len(values) == 0:
            return out
        mean, var = float(values[0]), 0.0
        alpha = self.alpha
        for i, x in enumerate(values.tolist()):
            if i >= self.warmup:
                std = math.sqrt(var)
                out[i] = abs(x - mean) / std if std > 0 else (0.0 if x == mean else 1e6)
            diff = x - mean
            mean += alpha * diff
            var = (1 - alpha) * (var + alpha * diff * diff)
        return out
