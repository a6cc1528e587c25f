"""Predictive rules -> the engine's observations (same lifecycle as threshold alerts).

`PredictiveEvaluator.observe` is what `alerts.engine.evaluate` calls for the rule set's
`predictive` section. Each rule reads the model of its (signal, detector); a model without a
usable state (cold start, failed) yields nothing, which the engine treats as "no data", never
as a breach. Any error while predicting marks that model failed (with the reason) and skips
it: the other rules, predictive or not, are still evaluated.

Every observation explains itself in its annotations: observed value, expected band, model,
and for breaches the predicted crossing time with its band.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.alerts.engine import EngineOptions, Observation, Timing
from intuitivus_flow.alerts.rules import PredictiveKind, PredictiveRule, resolve_runbook_url
from intuitivus_flow.forecasting.models import ForecastModel
from intuitivus_flow.forecasting.options import MIN_TREND_POINTS, ForecastOptions
from intuitivus_flow.forecasting.repository import ModelRepository
from intuitivus_flow.forecasting.series import (
    StepSeries,
    floor_step,
    load_series,
    to_datetime,
    to_numpy,
)
from intuitivus_flow.forecasting.service import mark_failed
from intuitivus_flow.forecasting.training import expected_band, history_start
from intuitivus_flow.forecasting.trend import fit_trend
from intuitivus_flow.metrics_history.repository import MetricRepository
from intuitivus_flow.predictive.detectors import get_detector
from intuitivus_flow.predictive.forecast import BreachForecast, forecast_breach

logger = logging.getLogger(__name__)

ALERT_SCORE = 0.5  # the detectors' contract: a score >= 0.5 means "an alert fires here"


@dataclass(frozen=True, slots=True)
class AnomalyReading:
    at: datetime
    value: float
    score: float
    expected: float
    low: float
    high: float


@dataclass(slots=True)
class PredictiveEvaluator:
    options: ForecastOptions = field(default_factory=ForecastOptions)
    # The detector reads the whole history; its verdict on a step is final once the step is
    # complete, so it is computed once per (model fit, step) rather than every 15 s tick.
    _readings: dict[tuple[str, str], tuple[Any, AnomalyReading]] = field(default_factory=dict)

    async def observe(
        self,
        session: AsyncSession,
        rules: list[PredictiveRule],
        *,
        now: datetime,
        options: EngineOptions,
    ) -> list[Observation]:
        models = {(m.signal, m.detector): m for m in await ModelRepository(session).all()}
        found = []
        for rule in rules:
            model = models.get((rule.signal, rule.detector))
            if model is None or not model.predicts:
                continue  # cold start, failed or not trained yet: no prediction
            try:
                observation = await self._observe(session, rule, model, now=now, options=options)
            except Exception as exc:
                logger.warning(
                    "predictive rule %s: model %s/%s failed, no prediction",
                    rule.name,
                    model.signal,
                    model.detector,
                    exc_info=True,
                )
                mark_failed(model, exc, now)
                continue
            if observation is not None:
                found.append(observation)
        return found

    async def _observe(
        self,
        session: AsyncSession,
        rule: PredictiveRule,
        model: ForecastModel,
        *,
        now: datetime,
        options: EngineOptions,
    ) -> Observation | None:
        if rule.kind is PredictiveKind.anomaly:
            reading = await self.anomaly(session, model, now=now)
            if reading is None:
                return None
            notes = _anomaly_notes(rule, model, reading)
            breached = reading.score >= ALERT_SCORE
            return _observation(rule, notes, reading.value, options, breached=breached)
        return await self._breach_observation(session, rule, model, now=now, options=options)

    async def anomaly(
        self, session: AsyncSession, model: ForecastModel, *, now: datetime
    ) -> AnomalyReading | None:
        """The model's verdict on the newest complete step (None when that step has no data)."""
        assert model.state is not None
        last_step = floor_step(now, self.options.step) - self.options.step
        key = (model.signal, model.detector)
        version = (model.trained_at, last_step)
        cached = self._readings.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        series = await load_series(
            MetricRepository(session),
            model.signal,
            start=history_start(model.state),
            now=now,
            step=self.options.step,
        )
        if not len(series) or series.moment(-1) != last_step:
            return None  # the sampler missed the step: no data is not a breach
        detector = get_detector(model.detector)
        scores = await asyncio.to_thread(detector.score, series.times, series.values)
        expected, low, high = expected_band(model.state, series.values)
        reading = AnomalyReading(
            last_step, float(series.values[-1]), float(scores[-1]), expected, low, high
        )
        self._readings[key] = (version, reading)
        return reading

    async def _breach_observation(
        self,
        session: AsyncSession,
        rule: PredictiveRule,
        model: ForecastModel,
        *,
        now: datetime,
        options: EngineOptions,
    ) -> Observation | None:
        assert rule.horizon is not None
        assert rule.threshold is not None
        series = await self.trend_window(session, rule.signal, rule.horizon, now=now)
        if len(series) < MIN_TREND_POINTS:
            return None
        breach = forecast_breach(
            series.times,
            series.values,
            rule.threshold,
            np.timedelta64(rule.horizon),
            direction=rule.direction,
        )
        notes = _breach_notes(rule, model, series, breach, now=now)
        return _observation(rule, notes, float(series.values[-1]), options, breached=bool(breach))

    async def trend_window(
        self, session: AsyncSession, signal: str, horizon: timedelta, *, now: datetime
    ) -> StepSeries:
        """The history a trend is fitted on: as long as the horizon, at least a few steps."""
        lookback = max(horizon, self.options.step * MIN_TREND_POINTS)
        return await load_series(
            MetricRepository(session), signal, start=now - lookback, now=now, step=self.options.step
        )


def _observation(
    rule: PredictiveRule,
    notes: dict[str, str],
    value: float,
    options: EngineOptions,
    *,
    breached: bool,
) -> Observation:
    annotations = {
        "summary": rule.summary,
        "description": rule.description,
        "runbook_url": resolve_runbook_url(rule.runbook_url, options.runbook_base_url),
        **notes,
    }
    return Observation(
        name=rule.name,
        labels={
            **rule.labels,
            "signal": rule.signal,
            "kind": rule.kind.value,
            "severity": rule.severity,
        },
        annotations=annotations,
        breached=breached,
        value=value,
        timing=Timing(rule.for_, rule.keep_firing_for),
    )


def _num(value: float) -> str:
    return f"{value:.4g}"


def _anomaly_notes(
    rule: PredictiveRule, model: ForecastModel, reading: AnomalyReading
) -> dict[str, str]:
    return {
        "kind": rule.kind.value,
        "value": _num(reading.value),
        "observed": _num(reading.value),
        "observed_at": reading.at.isoformat(),
        "expected": _num(reading.expected),
        "expected_band": f"{_num(reading.low)} .. {_num(reading.high)}",
        "anomaly_score": f"{reading.score:.3f}",
        "model": model.detector,
    }


def _breach_notes(
    rule: PredictiveRule,
    model: ForecastModel,
    series: StepSeries,
    breach: BreachForecast | None,
    *,
    now: datetime,
) -> dict[str, str]:
    assert rule.horizon is not None
    assert rule.threshold is not None
    notes = {
        "kind": rule.kind.value,
        "value": _num(float(series.values[-1])),
        "observed": _num(float(series.values[-1])),
        "observed_at": series.moment(-1).isoformat(),
        "threshold": f"{rule.operator} {_num(rule.threshold)}",
        "model": f"{model.detector} + robust linear trend",
    }
    trend = fit_trend(series.times, series.values)
    if trend is not None:
        at = now + rule.horizon
        centre, low, high = trend.project(np.array([to_numpy(at)]))
        notes["expected"] = _num(float(centre[0]))
        notes["expected_band"] = f"{_num(float(low[0]))} .. {_num(float(high[0]))}"
        notes["expected_at"] = at.isoformat()
        notes["trend_per_hour"] = f"{trend.slope * 3600:+.4g}"
    if breach is not None:
        predicted = to_datetime(breach.predicted_at)
        earliest = to_datetime(breach.earliest)
        latest = None if breach.latest is None else to_datetime(breach.latest)
        notes["predicted_crossing_at"] = predicted.isoformat()
        notes["crossing_earliest"] = earliest.isoformat()
        notes["crossing_latest"] = latest.isoformat() if latest else "never (flat trend possible)"
        notes["time_to_breach"] = _span(predicted - now)
        notes["uncertainty"] = (
            f"between {_span(earliest - now)} and "
            f"{_span(latest - now) if latest else 'never'} from now (80 % band)"
        )
    return notes


def _span(delta: timedelta) -> str:
    minutes = max(0, round(delta.total_seconds() / 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"
