"""Predictive rules -> the engine's observations (same lifecycle as threshold alerts).

`PredictiveEvaluator.observe` is what `alerts.engine.evaluate` calls for the rule set's
`predictive` section. Each rule reads the model of its (signal, detector); a model without a
usable state (cold start, failed) yields nothing, which the engine treats as "no data", never
as a breach. Any error while predicting marks that model failed (with the reason) and skips
it: the other rules, predictive or not, are still evaluated.

Every observation explains itself in its annotations: observed value, expected band, model,
the season it was compared with ("same hour last week: 41 %; now 78 %"), and for breaches the
predicted crossing time with its band, from the seasonal model the trainer fitted
(`predictive.seasonal`, state key `breach`).
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
    to_numpy,
)
from intuitivus_flow.forecasting.service import mark_failed
from intuitivus_flow.forecasting.streams import explanation_steps, newest_score
from intuitivus_flow.forecasting.training import breach_model, expected_band, history_start
from intuitivus_flow.metrics_history.repository import MetricRepository
from intuitivus_flow.predictive.detectors import get_detector
from intuitivus_flow.predictive.seasonal import (
    Crossing,
    ForecastPath,
    SeasonalModel,
    SeasonalModelError,
)

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
    reference: str | None = None  # the same hour a week (else a day) before, and now


@dataclass(frozen=True, slots=True)
class BreachReading:
    """The seasonal model's forecast from the newest complete step (final once computed)."""

    at: datetime  # the newest complete step
    value: float
    model: SeasonalModel
    path: ForecastPath
    crossing: Crossing | None
    reference: str | None  # "same hour last week: 41 %; now 78 %"


@dataclass(slots=True)
class PredictiveEvaluator:
    options: ForecastOptions = field(default_factory=ForecastOptions)
    # The detector reads the whole history; its verdict on a step is final once the step is
    # complete, so it is computed once per (model fit, step) rather than every 15 s tick.
    _readings: dict[tuple[str, str], tuple[Any, AnomalyReading]] = field(default_factory=dict)
    # Same for a breach rule's forecast: one per (rule, fit, step), not one per tick.
    _breaches: dict[str, tuple[Any, BreachReading | None]] = field(default_factory=dict)

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
        # Only the steps the reading shows (the newest ones, the same step a day and a week
        # before); the detector keeps its own state (forecasting/streams.py) and reads older
        # steps only when it has to rebuild it.
        series = await explanation_steps(
            session,
            model.signal,
            last_step=last_step,
            step=self.options.step,
            start=history_start(model.state),
            lags=REFERENCE_LAGS,
        )
        if not len(series) or series.moment(-1) != last_step:
            return None  # the sampler missed the step: no data is not a breach
        detector = get_detector(model.detector)
        score = await newest_score(
            session, model, detector, series, now=now, step=self.options.step
        )
        expected, low, high = expected_band(model.state, series.values)
        reading = AnomalyReading(
            last_step,
            float(series.values[-1]),
            score,
            expected,
            low,
            high,
            seasonal_reference(series, model.signal),
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
        reading = await self.breach(session, rule, model, now=now)
        if reading is None:
            return None
        notes = _breach_notes(rule, model, reading, now=now)
        breached = reading.crossing is not None
        return _observation(rule, notes, reading.value, options, breached=breached)

    async def breach(
        self, session: AsyncSession, rule: PredictiveRule, model: ForecastModel, *, now: datetime
    ) -> BreachReading | None:
        """The seasonal forecast of `rule` from the newest complete step (None: no prediction).

        A model without a seasonal part (fitted by an older release, or on too short a
        history) predicts nothing and says why in the log; an error while forecasting
        propagates, so `observe` marks the model failed.
        """
        assert rule.horizon is not None
        assert rule.threshold is not None
        assert model.state is not None
        last_step = floor_step(now, self.options.step) - self.options.step
        version = (model.trained_at, last_step)
        cached = self._breaches.get(rule.name)
        if cached is not None and cached[0] == version:
            return cached[1]
        reading = None
        try:
            seasonal = breach_model(model.state)
        except SeasonalModelError as exc:
            logger.info("forecast rule %s: no prediction (%s)", rule.name, exc)
        else:
            reading = await self._forecast(session, rule, seasonal, last_step=last_step, now=now)
        self._breaches[rule.name] = (version, reading)
        return reading

    async def _forecast(
        self,
        session: AsyncSession,
        rule: PredictiveRule,
        seasonal: SeasonalModel,
        *,
        last_step: datetime,
        now: datetime,
    ) -> BreachReading | None:
        assert rule.horizon is not None
        assert rule.threshold is not None
        lag = REFERENCE_LAGS[-1] if seasonal.season.weekly else REFERENCE_LAGS[0]
        window = timedelta(seconds=seasonal.trend_window)
        series = await load_series(
            MetricRepository(session),
            rule.signal,
            start=now - max(window, self.options.step * MIN_TREND_POINTS, lag + self.options.step),
            now=now,
            step=self.options.step,
        )
        if len(series) == 0 or series.moment(-1) != last_step:
            return None  # the sampler missed the step: no data is not a breach
        recent = series.since(now - max(window, self.options.step * MIN_TREND_POINTS))
        if len(recent) < MIN_TREND_POINTS:
            logger.info(
                "forecast rule %s: no prediction (%d steps in the trend window, need %d)",
                rule.name,
                len(recent),
                MIN_TREND_POINTS,
            )
            return None
        crossing, path = await asyncio.to_thread(
            seasonal.crossing,
            recent.times,
            recent.values,
            rule.threshold,
            rule.horizon.total_seconds(),
            direction=rule.direction,
            step=self.options.step.total_seconds(),
        )
        return BreachReading(
            last_step,
            float(recent.values[-1]),
            seasonal,
            path,
            crossing,
            seasonal_reference(series, rule.signal),
        )


# Seasons an explanation compares the newest value with: the same time a day, or a week, before.
REFERENCE_LAGS = (timedelta(days=1), timedelta(days=7))


def _unit(signal: str) -> str:
    for suffix, unit in (("_percent", " %"), ("_ms", " ms"), ("_seconds", " s")):
        if signal.endswith(suffix):
            return unit
    return ""


def seasonal_reference(series: StepSeries, signal: str) -> str | None:
    """ "same hour last week: 41 %; now 78 %" (else yesterday's; None without either)."""
    if not len(series):
        return None
    last = series.moment(-1)
    unit = _unit(signal)
    for lag, words in zip(
        REFERENCE_LAGS[::-1], ("same hour last week", "same hour yesterday"), strict=True
    ):
        index = int(np.searchsorted(series.times, to_numpy(last - lag)))
        if index < len(series) and series.times[index] == to_numpy(last - lag):
            return (
                f"{words}: {_num(float(series.values[index]))}{unit}; "
                f"now {_num(float(series.values[-1]))}{unit}"
            )
    return None


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
        **({"compared_with": reading.reference} if reading.reference else {}),
    }


def _breach_notes(
    rule: PredictiveRule, model: ForecastModel, reading: BreachReading, *, now: datetime
) -> dict[str, str]:
    assert rule.horizon is not None
    assert rule.threshold is not None
    seasons = " + ".join(reading.model.season.names)
    notes = {
        "kind": rule.kind.value,
        "value": _num(reading.value),
        "observed": _num(reading.value),
        "observed_at": reading.at.isoformat(),
        "threshold": f"{rule.operator} {_num(rule.threshold)}",
        "model": f"{model.detector} + seasonal trend ({seasons} season)",
    }
    if reading.reference is not None:
        notes["compared_with"] = reading.reference
    path = reading.path
    at = now + rule.horizon
    target = to_numpy(at).astype(np.int64) / 1e6
    notes["expected"] = _num(float(np.interp(target, path.seconds, path.centre)))
    low = float(np.interp(target, path.seconds, path.lower))
    high = float(np.interp(target, path.seconds, path.upper))
    notes["expected_band"] = f"{_num(low)} .. {_num(high)}"
    notes["expected_at"] = at.isoformat()
    notes["trend_per_hour"] = f"{path.line.slope * 3600:+.4g}"
    crossing = reading.crossing
    if crossing is not None:
        end = reading.at  # crossings are counted from the newest complete step
        predicted = end + timedelta(seconds=crossing.predicted)
        earliest = end + timedelta(seconds=crossing.earliest)
        latest = None if crossing.latest is None else end + timedelta(seconds=crossing.latest)
        notes["predicted_crossing_at"] = predicted.isoformat()
        notes["crossing_earliest"] = earliest.isoformat()
        notes["crossing_latest"] = latest.isoformat() if latest else "not within 4 horizons"
        notes["time_to_breach"] = _span(predicted - now)
        notes["uncertainty"] = (
            f"between {_span(earliest - now)} and "
            f"{_span(latest - now) if latest else 'more than 4 horizons'} from now (80 % band)"
        )
    return notes


def _span(delta: timedelta) -> str:
    minutes = max(0, round(delta.total_seconds() / 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"
