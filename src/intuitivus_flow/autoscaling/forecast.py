"""Predictive pre-scaling: the replicas the forecast load needs, for the HPA's External metric.

The product's own trend forecaster (`forecasting.trend.fit_trend`, the robust line the
predictive alerts use) is fitted to the recent requests-per-second history and projected over
the horizon (15 min by default); the highest projected load, divided by the per-pod target
(100 rps), is the replica count, bounded to the HPA's range. The HPA takes the largest of its
metrics' proposals, so this metric only ever adds capacity ahead of a rising load: when the
forecast falls, the reactive metrics (CPU, memory, requests per pod) keep what the current load
needs, and the scale-down stabilisation window still applies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from intuitivus_flow.forecasting.trend import fit_trend
from intuitivus_flow.predictive.detectors import FloatArray, TimeArray


@dataclass(frozen=True, slots=True)
class PrescalingOptions:
    target_rps_per_pod: float = 100.0
    min_replicas: int = 3
    max_replicas: int = 20
    horizon_seconds: float = 900.0
    history_seconds: float = 300.0
    steps: int = 10  # points of the projected path checked for its highest value


def desired_replicas(times: TimeArray, rps: FloatArray, options: PrescalingOptions) -> int | None:
    """Replicas for the highest forecast load over the horizon; None without enough history."""
    trend = fit_trend(times, rps)
    if trend is None:
        return None
    offsets = np.linspace(0.0, options.horizon_seconds, options.steps + 1)
    future = trend.origin + (offsets * 1e6).astype("timedelta64[us]")
    centre, _lower, _upper = trend.project(future)
    # The line's centre, not its upper band: the band widens with the horizon and would ask
    # for the maximum on any noisy series, which is waste, not foresight.
    peak = max(float(np.max(centre)), 0.0)
    return replicas_for_load(peak, options)


def replicas_for_load(rps: float, options: PrescalingOptions, *, slack: float = 0.0) -> int:
    """Pods for `rps` at the per-pod target (`slack`: the share above target still accepted)."""
    # Rounded first: a flat 300 rps fitted as 300.0000001 must ask for 3 pods, not 4.
    per_pod = options.target_rps_per_pod * (1 + slack)
    needed = math.ceil(round(rps / per_pod, 6)) if rps > 0 else 0
    return max(options.min_replicas, min(needed, options.max_replicas))
