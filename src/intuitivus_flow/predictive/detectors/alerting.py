"""Turning a surprise signal into debounced alerts, encoded as scores in [0, 1]."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from intuitivus_flow.predictive.detectors.base import FloatArray

ALERT_FLOOR = 0.5  # the evaluation protocol's threshold: scores at or above it are detections
QUIET_CEILING = 0.499  # what a suppressed (debounced) point may reach at most
WATCH_FLOOR = 0.4  # with a watch level: watch points score in [0.4, 0.499], the rest below 0.4


@dataclass(frozen=True)
class AlertPolicy:
    """Fire when ``surprise >= threshold``, then stay quiet for ``refractory`` points.

    One incident (a level shift, a burst of spikes) keeps the surprise high for a while; the
    refractory period turns it into a single alert instead of a flood, which is what alert
    precision rewards and what an operator wants.

    Optional per-series calibration (``calibration > 0``): the bar at point t is
    ``clip(calibration_factor * m_t, threshold, ceiling)`` where ``m_t`` is the largest surprise
    seen before t within the first ``calibration`` points of the series (frozen afterwards).
    A series that already surprised its own young model strongly while the model was warming
    up (heavy, bursty tails) gets a higher bar; every other series keeps ``threshold``. Causal:
    the bar at t uses surprises before t only.
    """

    threshold: float
    refractory: int
    calibration: int = 0
    calibration_factor: float = 0.5
    ceiling: float = 8.0
    # Watch level (0: off): points whose surprise reaches ``bar - watch_margin`` fire a second,
    # separately debounced "watch" tier scored in [WATCH_FLOOR, QUIET_CEILING]. Alerts (>= 0.5)
    # are unchanged; a consumer that picks its own score threshold (NAB's scorer optimises
    # one) gets debounced weaker evidence instead of every row of a noisy stretch.
    watch_margin: float = 0.0

    def thresholds(self, surprise: FloatArray) -> FloatArray:
        """The bar each point must reach (constant unless calibration is on)."""
        n = len(surprise)
        bar = np.full(n, self.threshold)
        if self.calibration <= 0 or n == 0:
            return bar
        surprise = np.where(np.isfinite(surprise), surprise, 0.0)
        # Largest surprise strictly before t, counting only the first `calibration` points.
        early = np.where(np.arange(n) < self.calibration, surprise, 0.0)
        seen_before = np.concatenate([[0.0], np.maximum.accumulate(early)[:-1]])
        ceiling = max(self.ceiling, self.threshold)
        return np.clip(self.calibration_factor * seen_before, self.threshold, ceiling)

    def apply(self, surprise: FloatArray) -> FloatArray:
        surprise = np.where(np.isfinite(surprise), surprise, 0.0)
        bar = self.thresholds(surprise)
        graded = np.minimum(surprise / bar, 1.0) * QUIET_CEILING
        if self.watch_margin > 0:
            watch_bar = np.maximum(bar - self.watch_margin, np.finfo(np.float64).tiny)
            graded = np.minimum(surprise / watch_bar, 1.0) * (WATCH_FLOOR - 0.001)
            watched = _debounce(np.flatnonzero(surprise >= watch_bar), self.refractory)
            closeness = np.clip((surprise - watch_bar) / (bar - watch_bar), 0.0, 1.0)
            graded[watched] = WATCH_FLOOR + (QUIET_CEILING - WATCH_FLOOR) * closeness[watched]
        fired = self.fire_points(surprise)
        # Above the floor only where an alert fires; how far above says how strong it is.
        strength = np.minimum((surprise - bar) / bar, 1.0)
        graded[fired] = ALERT_FLOOR + 0.5 * np.clip(strength[fired], 0.0, 1.0)
        return graded

    def fire_points(self, surprise: FloatArray) -> list[int]:
        surprise = np.where(np.isfinite(surprise), surprise, 0.0)
        return _debounce(np.flatnonzero(surprise >= self.thresholds(surprise)), self.refractory)


def _debounce(candidates: npt.NDArray[np.intp], refractory: int) -> list[int]:
    """The candidates that are more than ``refractory`` points after the last one kept."""
    fired: list[int] = []
    for index in candidates.tolist():
        if not fired or index - fired[-1] > refractory:
            fired.append(index)
    return fired
