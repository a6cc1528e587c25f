"""The read side: a signal's history, forecast, anomalies and threshold, for the API and page.

The forecast and the predicted crossing come from the seasonal model the trainer fitted
(`predictive.seasonal`, the `breach` key of the model's state), the same one the evaluator
alerts on; a model without it (cold start, failed, too short a history) shows history only.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.alerts.rules import PredictiveKind, RuleSet
from intuitivus_flow.forecasting.evaluator import ALERT_SCORE
from intuitivus_flow.forecasting.models import ForecastModel
from intuitivus_flow.forecasting.options import MIN_TREND_POINTS, ForecastOptions
from intuitivus_flow.forecasting.repository import ModelRepository
from intuitivus_flow.forecasting.schemas import (
    Anomaly,
    BreachPrediction,
    Forecast,
    ForecastPoint,
    HistoryPoint,
    ModelState,
    ThresholdLine,
)
from intuitivus_flow.forecasting.series import StepSeries, floor_step, load_series
from intuitivus_flow.forecasting.training import breach_model, history_start
from intuitivus_flow.kit.errors import InvalidInput
from intuitivus_flow.metrics_history.repository import MetricRepository
from intuitivus_flow.metrics_history.service import check_signal
from intuitivus_flow.predictive.detectors import get_detector
from intuitivus_flow.predictive.seasonal import SeasonalModel, SeasonalModelError

MAX_HORIZON = timedelta(days=7)
FORECAST_POINTS = 60  # points drawn along the horizon


def model_state(model: ForecastModel, options: ForecastOptions) -> ModelState:
    return ModelState.model_validate(
        {
            **{c: getattr(model, c) for c in ModelState.model_fields if c != "min_points"},
            "min_points": options.min_points,
        }
    )


def threshold_line(rules: RuleSet, signal: str) -> ThresholdLine | None:
    for predictive in rules.predictive:
        if predictive.signal == signal and predictive.kind is PredictiveKind.forecast_breach:
            assert predictive.threshold is not None
            assert predictive.operator is not None
            return ThresholdLine(
                rule=predictive.name, operator=predictive.operator, value=predictive.threshold
            )
    for rule in rules.thresholds:
        if rule.signal == signal:
            return ThresholdLine(rule=rule.name, operator=rule.operator, value=rule.threshold)
    return None


def _chosen_model(models: list[ForecastModel], rules: RuleSet, signal: str) -> ForecastModel | None:
    """The model the signal's anomaly rule uses, else the first one of the signal."""
    wanted = [r.detector for r in rules.predictive if r.signal == signal]
    ranked = sorted(models, key=lambda m: wanted.index(m.detector) if m.detector in wanted else 99)
    return ranked[0] if ranked else None


async def forecast(
    session: AsyncSession,
    signal: str,
    *,
    horizon: timedelta,
    span: timedelta,
    now: datetime,
    rules: RuleSet,
    options: ForecastOptions,
) -> Forecast:
    check_signal(signal)
    if not timedelta(0) < horizon <= MAX_HORIZON:
        raise InvalidInput("horizon must be between 1s and 7d", field="horizon")
    if not timedelta(0) < span <= options.history:
        raise InvalidInput(f"range must be between 1s and {options.history.days}d", field="range")
    model = _chosen_model(await ModelRepository(session).for_signal(signal), rules, signal)
    threshold = threshold_line(rules, signal)
    start = now - span
    if model is not None and model.predicts and model.state is not None:
        start = min(start, history_start(model.state))
    series = await load_series(
        MetricRepository(session), signal, start=start, now=now, step=options.step
    )
    shown = series.since(floor_step(now - span, options.step))
    result = Forecast(
        name=signal,
        step_seconds=options.step_seconds,
        horizon_seconds=int(horizon.total_seconds()),
        generated_at=now,
        history=[
            HistoryPoint(time=shown.moment(i), value=float(v)) for i, v in enumerate(shown.values)
        ],
        forecast=[],
        anomalies=[],
        threshold=threshold,
        breach=None,
        model=None if model is None else model_state(model, options),
    )
    if model is None or not model.predicts or len(series) == 0:
        return result
    result.anomalies = await _anomalies(model, series, since=shown.moment(0) if len(shown) else now)
    assert model.state is not None
    try:
        seasonal = breach_model(model.state)
    except SeasonalModelError as exc:
        result.forecast_unavailable = str(exc)
        return result
    result.seasonality = seasonal.season.names
    window = max(timedelta(seconds=seasonal.trend_window), options.step * MIN_TREND_POINTS)
    recent = series.since(now - window)
    if len(recent) < MIN_TREND_POINTS:
        result.forecast_unavailable = (
            f"{len(recent)} steps in the last {window}, the trend needs {MIN_TREND_POINTS}"
        )
        return result
    result.forecast, result.breach = await asyncio.to_thread(
        _seasonal, seasonal, recent, threshold, now=now, horizon=horizon, options=options
    )
    return result


async def _anomalies(model: ForecastModel, series: StepSeries, *, since: datetime) -> list[Anomaly]:
    detector = get_detector(model.detector)
    scores = await asyncio.to_thread(detector.score, series.times, series.values)
    return [
        Anomaly(time=series.moment(i), value=float(series.values[i]), score=float(scores[i]))
        for i in np.flatnonzero(np.asarray(scores) >= ALERT_SCORE).tolist()
        if series.moment(i) >= since
    ]


def _seasonal(
    model: SeasonalModel,
    series: StepSeries,
    threshold: ThresholdLine | None,
    *,
    now: datetime,
    horizon: timedelta,
    options: ForecastOptions,
) -> tuple[list[ForecastPoint], BreachPrediction | None]:
    """The median path with its 80 % band up to `now + horizon`, and the first crossing."""
    first = series.moment(-1)
    step = max(options.step, (now + horizon - first) / FORECAST_POINTS)
    count = int((now + horizon - first) / step)
    ahead = step.total_seconds() * np.arange(1, count + 1, dtype=np.float64)
    path = model.path(series.times, series.values, ahead)
    points = [
        ForecastPoint(time=first + step * (i + 1), value=float(c), lower=float(lo), upper=float(hi))
        for i, (c, lo, hi) in enumerate(zip(path.centre, path.lower, path.upper, strict=True))
    ]
    if threshold is None:
        return points, None
    crossing, _ = model.crossing(
        series.times,
        series.values,
        threshold.value,
        (now + horizon - first).total_seconds(),
        direction="below" if threshold.operator.startswith("<") else "above",
        step=options.step.total_seconds(),
    )
    if crossing is None:
        return points, None
    return points, BreachPrediction(
        predicted_at=first + timedelta(seconds=crossing.predicted),
        earliest=first + timedelta(seconds=crossing.earliest),
        latest=None if crossing.latest is None else first + timedelta(seconds=crossing.latest),
        slope_per_hour=path.line.slope * 3600,
    )
