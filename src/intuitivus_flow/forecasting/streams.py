"""The evaluator's anomaly score from the detector's persisted, incremental state.

The default detector (and its `record`/`robust-point` variants) scores a new step with
constant work from a `DetectorState` stored per model (`forecast_detector_streams`): the
evaluator feeds it only the steps after the stored one. The stream starts at the model's
`history_start`, so its score is the detector's score over the fitted window (the batch form
read that window at every step); it is rebuilt from there when a refit moves `history_start`,
when the detector's parameters change, or when the stored state cannot be read. A detector
without an incremental form (Prophet, `ewma`) is scored over the window, as before.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.forecasting.models import DetectorStream, ForecastModel
from intuitivus_flow.forecasting.series import StepSeries, load_series
from intuitivus_flow.forecasting.training import RESIDUAL_WINDOW, history_start
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.metrics_history.repository import MetricRepository
from intuitivus_flow.predictive.detectors import Detector
from intuitivus_flow.predictive.detectors.robust import RobustResidualDetector
from intuitivus_flow.predictive.detectors.stream import DetectorState, fingerprint

logger = logging.getLogger(__name__)


class StreamRepository:
    """All SQL over `forecast_detector_streams` (instance-wide, like `forecast_models`)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def for_model(self, model_id: object) -> DetectorStream | None:
        rows = await self.session.execute(
            select(DetectorStream).where(DetectorStream.model_id == model_id)
        )
        return rows.scalar_one_or_none()

    async def add(self, stream: DetectorStream) -> bool:
        """Insert; False when another evaluator inserted the same model's stream meanwhile."""
        try:
            async with self.session.begin_nested():
                self.session.add(stream)
                await self.session.flush()
        except IntegrityError:
            return False
        return True


async def newest_score(
    session: AsyncSession,
    model: ForecastModel,
    detector: Detector,
    recent: StepSeries,
    *,
    now: datetime,
    step: timedelta,
) -> float:
    """The detector's score of the newest step of `recent` (the window's last complete step).

    `recent` holds the steps the evaluator loaded anyway (`explanation_steps`: complete over
    its newest `RESIDUAL_WINDOW + 1` steps); older steps are loaded only when the stream is
    behind them (first run, rebuild, a pause of the evaluator).
    """
    assert model.state is not None
    start = history_start(model.state)
    if not isinstance(detector, RobustResidualDetector):
        series = await _load(session, model.signal, start=start, now=now, step=step)
        scores = await asyncio.to_thread(detector.score, series.times, series.values)
        return float(scores[-1])
    newest = recent.moment(-1)
    repository = StreamRepository(session)
    row = await repository.for_model(model.id)
    state = _usable_state(row, detector, start)
    if row is not None and state is not None and row.last_step == newest:
        return row.last_score  # scored already (another instance, or before a restart)
    if state is None or state.last_time_us is None or row is None or row.last_step > newest:
        state = detector.start(np.timedelta64(int(step.total_seconds() * 1_000_000), "us"))
        begin = start
    else:
        begin = row.last_step + step
    feed = recent.since(begin)
    # `recent` is complete only over its newest steps (it may also hold a few older ones).
    complete_from = max(recent.moment(0), newest - step * RESIDUAL_WINDOW)
    if begin < complete_from:
        feed = await _load(session, model.signal, start=begin, now=now, step=step)
    after, scores = await asyncio.to_thread(detector.update, state, feed.times, feed.values)
    if not len(scores) or feed.moment(-1) != newest:
        raise ValueError("the newest step is missing from the metric history")
    score = float(scores[-1])
    await _store(repository, row, model, after, start, feed.moment(-1), score)
    return score


def _usable_state(
    row: DetectorStream | None, detector: RobustResidualDetector, start: datetime
) -> DetectorState | None:
    if row is None or row.detector_version != fingerprint(detector):
        return None
    if row.history_start != start:
        return None  # refitted: the stream starts again at the new window
    try:
        return DetectorState.from_bytes(row.state)
    except ValueError as exc:
        logger.warning("detector state of model %s unreadable (%s): rebuilt", row.model_id, exc)
        return None


async def _store(
    repository: StreamRepository,
    row: DetectorStream | None,
    model: ForecastModel,
    state: DetectorState,
    start: datetime,
    last_step: datetime,
    score: float,
) -> None:
    data = state.to_bytes()
    if row is None:
        await repository.add(
            DetectorStream(
                model_id=model.id,
                detector_version=state.fingerprint,
                history_start=start,
                last_step=last_step,
                points=state.count,
                last_score=score,
                state=data,
            )
        )
        return
    row.detector_version = state.fingerprint
    row.history_start = start
    row.last_step = last_step
    row.points = state.count
    row.last_score = score
    row.state = data
    row.updated_at = utcnow()


async def explanation_steps(
    session: AsyncSession,
    signal: str,
    *,
    last_step: datetime,
    step: timedelta,
    start: datetime,
    lags: tuple[timedelta, ...],
) -> StepSeries:
    """The steps an anomaly reading reads besides the detector's state, in time order: the
    same step `lags` earlier (the explanation's reference, when not before `start`) and the
    newest `RESIDUAL_WINDOW + 1` steps (the expected band and the newest value). A few rows
    instead of the week between them."""
    recent_from = max(start, last_step - step * RESIDUAL_WINDOW)
    parts = [
        await _load(session, signal, start=at, now=at + step, step=step)
        for at in sorted(last_step - lag for lag in lags)
        if start <= at < recent_from
    ]
    parts.append(await _load(session, signal, start=recent_from, now=last_step + step, step=step))
    return StepSeries(
        np.concatenate([p.times for p in parts]),
        np.concatenate([p.values for p in parts]),
        step,
    )


async def _load(
    session: AsyncSession, signal: str, *, start: datetime, now: datetime, step: timedelta
) -> StepSeries:
    return await load_series(MetricRepository(session), signal, start=start, now=now, step=step)
