"""The knobs of the predictive models, from the settings (FLOW_PREDICTIVE_*) or given by tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from intuitivus_flow.config import Settings

# Residuals of the newest points compared with the training ones for drift: 6 h at 5 minutes.
DRIFT_POINTS = 72
# A failed fit, or a fit that never finished (the process died), is tried again after this.
RETRY_AFTER = timedelta(minutes=15)
# The forecast line fits the trend of the last `horizon` of history, never fewer steps than this.
MIN_TREND_POINTS = 12


@dataclass(frozen=True, slots=True)
class ForecastOptions:
    step: timedelta = timedelta(minutes=5)
    history: timedelta = timedelta(days=14)
    min_points: int = 288
    retrain_every: timedelta = timedelta(hours=6)
    drift_points: int = DRIFT_POINTS
    retry_after: timedelta = RETRY_AFTER

    @classmethod
    def from_settings(cls, settings: Settings) -> ForecastOptions:
        return cls(
            step=timedelta(seconds=settings.predictive_step_seconds),
            history=timedelta(days=settings.predictive_history_days),
            min_points=settings.predictive_min_points,
            retrain_every=timedelta(minutes=settings.predictive_retrain_minutes),
        )

    @property
    def step_seconds(self) -> int:
        return int(self.step.total_seconds())
