"""The plan's Prophet rule, run causally: the baseline the default detector must beat.

Configuration reproduced from the plan: ``changepoint_prior_scale=0.05``,
``seasonality_prior_scale=10``, daily and weekly seasonality, no yearly seasonality, and a
point is anomalous when it falls outside ``[yhat_lower, yhat_upper]`` (Prophet's default 80 %
interval). To stay causal the model is fitted on the past only and then predicts the next
chunk; it is refitted at every chunk boundary, with ``refits`` chunks per series so the cost
stays bounded. Nothing is flagged before the first fit (the first 15 % of the series).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from intuitivus_flow.predictive.detectors.base import FloatArray, TimeArray

PROBATION_FRACTION = 0.15


class ProphetMissingError(RuntimeError):
    def __str__(self) -> str:
        return (
            "the 'prophet' detector needs the optional extra: "
            "pip install 'intuitivus-flow[prophet]'"
        )


def _prophet_class() -> Any:
    try:
        from prophet import Prophet
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ProphetMissingError() from exc
    # cmdstanpy logs two INFO lines per fit (and resets its level when it sets itself up);
    # they would drown the progress bar, so its logger is switched off outright.
    logging.getLogger("cmdstanpy").disabled = True
    logging.getLogger("prophet").setLevel(logging.WARNING)
    return Prophet


@dataclass(frozen=True)
class ProphetDetector:
    name: str = "prophet"
    refits: int = 10
    min_train_points: int = 24
    interval_width: float = 0.8

    def score(self, times: TimeArray, values: FloatArray) -> FloatArray:
        prophet_cls = _prophet_class()
        import pandas as pd

        n = len(values)
        scores = np.zeros(n)
        for start, stop in self.chunks(n):
            model = prophet_cls(
                changepoint_prior_scale=0.05,
                seasonality_prior_scale=10,
                daily_seasonality=True,
                weekly_seasonality=True,
                yearly_seasonality=False,
                interval_width=self.interval_width,
            )
            model.fit(pd.DataFrame({"ds": times[:start], "y": values[:start]}))
            forecast = model.predict(pd.DataFrame({"ds": times[start:stop]}))
            scores[start:stop] = band_scores(
                values[start:stop],
                forecast["yhat"].to_numpy(),
                forecast["yhat_lower"].to_numpy(),
                forecast["yhat_upper"].to_numpy(),
            )
        return scores

    def chunks(self, n: int) -> list[tuple[int, int]]:
        """Train on ``[:start]``, score ``[start:stop]``; the first start ends the probation.

        Chunk boundaries are fixed fractions of the series length: that sets the cost, it never
        lets a prediction see the values it scores.
        """
        first = max(int(PROBATION_FRACTION * n), self.min_train_points)
        if first >= n:
            return []
        edges = np.linspace(first, n, self.refits + 1).round().astype(int)
        return [
            (a, b) for a, b in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True) if b > a
        ]


def band_scores(
    values: FloatArray, yhat: FloatArray, lower: FloatArray, upper: FloatArray
) -> FloatArray:
    """1.0 outside the band (the plan's alert rule); inside, the distance to yhat in [0, 0.5)."""
    half_width = np.maximum((upper - lower) / 2, np.finfo(np.float64).tiny)
    inside = np.minimum(np.abs(values - yhat) / half_width, 1.0) * 0.499
    outside = (values < lower) | (values > upper)
    return np.where(outside, 1.0, inside)
