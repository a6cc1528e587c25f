"""Training and state of the per-signal models.

The trainer loop (alerts/runtime.py) calls `plan_training` in one unit of work, which creates
missing models, records cold starts and drift, and marks the models that need a fit as
`training`; then `train` once per planned model, each in its own unit of work, so the
`training` state is visible while a slow fit runs and one failing fit cannot undo the others.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.alerts.rules import RuleSet
from intuitivus_flow.forecasting.models import (
    ERROR_LENGTH,
    ForecastModel,
    ModelStatus,
    TrainReason,
)
from intuitivus_flow.forecasting.options import ForecastOptions
from intuitivus_flow.forecasting.repository import ModelRepository
from intuitivus_flow.forecasting.series import StepSeries, load_series
from intuitivus_flow.forecasting.training import (
    NotEnoughHistory,
    check_drift,
    fit_state,
    is_outdated,
)
from intuitivus_flow.metrics_history.repository import MetricRepository
from intuitivus_flow.predictive.detectors import get_detector

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TrainingJob:
    model_id: uuid.UUID
    signal: str
    detector: str
    reason: TrainReason


def wanted_models(rules: RuleSet) -> list[tuple[str, str]]:
    """(signal, detector) of every predictive rule, once each, in rule order."""
    return list(dict.fromkeys((rule.signal, rule.detector) for rule in rules.predictive))


def describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:ERROR_LENGTH]


def mark_failed(model: ForecastModel, exc: BaseException, now: datetime) -> None:
    """No prediction from this model until a refit works; the reason is kept for the API."""
    model.status = ModelStatus.failed
    model.last_error = describe_error(exc)
    model.checked_at = now


async def list_models(session: AsyncSession) -> list[ForecastModel]:
    return await ModelRepository(session).all()


async def _history(
    session: AsyncSession, signal: str, *, now: datetime, options: ForecastOptions
) -> StepSeries:
    return await load_series(
        MetricRepository(session), signal, start=now - options.history, now=now, step=options.step
    )


async def plan_training(
    session: AsyncSession, rules: RuleSet, *, now: datetime, options: ForecastOptions
) -> list[TrainingJob]:
    repository = ModelRepository(session)
    existing = {(m.signal, m.detector): m for m in await repository.all()}
    jobs = []
    for signal, detector in wanted_models(rules):
        model = existing.get((signal, detector))
        if model is None:
            model = await repository.add(
                ForecastModel(
                    signal=signal, detector=detector, status=ModelStatus.cold_start, checked_at=now
                )
            )
        series = await _history(session, signal, now=now, options=options)
        reason = _due(model, series, now=now, options=options)
        if reason is not None:
            model.status = ModelStatus.training
            model.train_reason = reason
            model.checked_at = now
            jobs.append(TrainingJob(model.id, signal, detector, reason))
    await session.flush()
    return jobs


def _due(
    model: ForecastModel, series: StepSeries, *, now: datetime, options: ForecastOptions
) -> TrainReason | None:
    """Why `model` needs a fit now, if it does (updating its cold-start and drift figures)."""
    if model.status in (ModelStatus.failed, ModelStatus.training):
        # A failed fit, or one whose process died, is retried after a pause, not every tick.
        return TrainReason.retry if now - model.checked_at >= options.retry_after else None
    if model.state is None:
        if len(series) < options.min_points:
            model.status = ModelStatus.cold_start
            model.points_used = len(series)
            model.checked_at = now
            return None
        return TrainReason.initial
    if model.trained_at is None or now - model.trained_at >= options.retrain_every:
        return TrainReason.schedule
    if is_outdated(model.state):  # fitted by an older release (no seasonal breach model)
        return TrainReason.schedule
    drift = check_drift(model.state, series, points=options.drift_points)
    if drift is not None:
        model.drift_score = round(drift.score, 4)
        if drift.drifted:
            logger.info(
                "step changes of %s drifted (KS %.3f > %.3f): retraining %s",
                model.signal,
                drift.distance,
                drift.critical,
                model.detector,
            )
            return TrainReason.drift
    return None


async def train(
    session: AsyncSession, job: TrainingJob, *, now: datetime, options: ForecastOptions
) -> ForecastModel | None:
    """Fit one planned model; a failure is recorded on the model, never raised."""
    model = await ModelRepository(session).get(job.model_id)
    if model is None:  # deleted meanwhile
        return None
    series = await _history(session, model.signal, now=now, options=options)
    model.checked_at = now
    model.points_used = len(series)
    try:
        detector = get_detector(model.detector)
        # Off the event loop: a slow detector (Prophet) must not stall requests.
        state = await asyncio.to_thread(fit_state, detector, series, min_points=options.min_points)
    except NotEnoughHistory as exc:
        # History shrank below the minimum (retention, a stopped sampler): cold start again.
        model.status, model.state, model.last_error = ModelStatus.cold_start, None, None
        logger.info("model %s/%s back in cold start: %s", model.signal, model.detector, exc)
        return model
    except Exception as exc:
        logger.warning(
            "model %s/%s failed to fit; it predicts nothing until a refit works",
            model.signal,
            model.detector,
            exc_info=True,
        )
        mark_failed(model, exc, now)
        return model
    model.status = ModelStatus.ready
    model.state = state
    model.trained_at = now
    model.train_reason = job.reason
    model.drift_score = None
    model.last_error = None
    return model
