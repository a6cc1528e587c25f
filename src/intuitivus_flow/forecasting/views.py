"""The read side: a signal's history, forecast, anomalies and threshold, for the API and page."""

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
from intuitivus_flow.forecasting.series import StepSeries, floor_step, load_series, to_datetime
from intuitivus_flow.forecasting.training import history_start
from intuitivus_flow.forecasting.trend import fit_trend
from intuitivus_flow.kit.errors import InvalidInput
from intuitivus_flow.metrics_history.repository import MetricRepository
from intuitivus_flow.metrics_history.service import check_signal
from intuitivus_flow.predictive.detectors import get_detector
from intuitivus_flow.predictive.forecast import forecast_breach

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
    trend_series = series.since(now - max(horizon, options.step * MIN_TREND_POINTS))
    result.forecast = _projection(trend_series, now=now, horizon=horizon, options=options)
    if threshold is not None:
        result.breach = _breach(trend_series, threshold, horizon)
    return result


async def _anomalies(model: ForecastModel, series: StepSeries, *, since: datetime) -> list[Anomaly]:
    detector = get_detector(model.detector)
    scores = await asyncio.to_thread(detector.score, series.times, series.values)
    return [
        Anomaly(time=series.moment(i), value=float(series.values[i]), score=float(scores[i]))
        for i in np.flatnonzero(np.asarray(scores) >= ALERT_SCORE).tolist()
        if series.moment(i) >= since
    ]


def _projection(
    series: StepSeries, *, now: datetime, horizon: timedelta, options: ForecastOptions
) -> list[ForecastPoint]:
    if len(series) < MIN_TREND_POINTS:
        return []
    trend = fit_trend(series.times, series.values)
    if trend is None:
        return []
    first = series.moment(-1)
    step = max(options.step, (now + horizon - first) / FORECAST_POINTS)
    moments = [first + step * i for i in range(int((now + horizon - first) / step) + 1)]
    times = np.array([np.datetime64(m.replace(tzinfo=None), "us") for m in moments])
    centre, lower, upper = trend.project(times)
    return [
        ForecastPoint(time=m, value=float(c), lower=float(lo), upper=float(hi))
        for m, c, lo, hi in zip(moments, centre, lower, upper, strict=True)
    ]


def _breach(
    series: StepSeries, threshold: ThresholdLine, horizon: timedelta
) -> BreachPrediction | None:
    if len(series) < MIN_TREND_POINTS:
        return None
    found = forecast_breach(
        series.times,
        series.values,
        threshold.value,
        np.timedelta64(horizon),
        direction="below" if threshold.operator.startswith("<") else "above",
    )
    if found is None:
        return None
    return BreachPrediction(
        predicted_at=to_datetime(found.predicted_at),
        earliest=to_datetime(found.earliest),
        latest=None if found.latest is None else to_datetime(found.latest),
        slope_per_hour=found.slope_per_hour,
    )
