"""Turning a surprise signal into debounced alerts, encoded as scores in [0, 1]."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from intuitivus_flow.predictive.detectors.base import FloatArray

ALERT_FLOOR = 0.5  # the evaluation protocol's threshold: scores at or above it are detections
QUIET_CEILING = 0.499  # what a suppressed (debounced) point may reach at most


@dataclass(frozen=True)
class AlertPolicy:
    """Fire when ``surprise >= threshold``, then stay quiet for ``refractory`` points.

    One incident (a level shift, a burst of spikes) keeps the surprise high for a while; the
    refractory period turns it into a single alert instead of a flood, which is what alert
    precision rewards and what an operator wants.
    """

    threshold: float
    refractory: int

    def apply(self, surprise: FloatArray) -> FloatArray:
        surprise = np.where(np.isfinite(surprise), surprise, 0.0)
        graded = np.minimum(surprise / self.threshold, 1.0) * QUIET_CEILING
        fired = self.fire_points(surprise)
        # Above the floor only where an alert fires; how far above says how strong it is.
        strength = np.minimum((surprise - self.threshold) / self.threshold, 1.0)
        graded[fired] = ALERT_FLOOR + 0.5 * np.clip(strength[fired], 0.0, 1.0)
        return graded

    def fire_points(self, surprise: FloatArray) -> list[int]:
        candidates = np.flatnonzero(surprise >= self.threshold)
        fired: list[int] = []
        for index in candidates.tolist():
            if not fired or index - fired[-1] > self.refractory:
                fired.append(index)
        return fired
