"""The evaluator's detector state persists per model and takes one new step per tick; its score
is the detector's over the fitted window; a refit or an unreadable state rebuilds it. Both
database engines, a manual clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from intuitivus_flow.alerts.notifications.service import Notifier
from intuitivus_flow.alerts.rules import parse_rules
from intuitivus_flow.config import Settings
from intuitivus_flow.forecasting.models import DetectorStream, ForecastModel
from intuitivus_flow.forecasting.options import ForecastOptions
from intuitivus_flow.forecasting.series import load_series
from intuitivus_flow.forecasting.training import history_start
from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.metrics_history.repository import MetricRepository
from intuitivus_flow.predictive.detectors import get_detector
from tests.forecasting.harness import PER_DAY, STEP, PredictiveHarness, seasonal

RULES = """
predictive:
  - {name: LatencyAnomaly, kind: anomaly, signal: response_time_p95_ms, severity: warning,
     summary: latency departs from its pattern}
"""
SIGNAL = "response_time_p95_ms"
N = 2 * PER_DAY


@pytest.fixture
def harness(app: Any, tmp_path: Path) -> PredictiveHarness:
    # A day and a half of history per fit: a refit 6 h later starts its window 6 h later.
    return PredictiveHarness(
        context=app.state.context,
        rules=parse_rules(RULES, source="test"),
        notifier=Notifier.from_settings(Settings(env="test", data_dir=tmp_path)),
        forecast_options=ForecastOptions(step=STEP, history=timedelta(hours=36)),
    )


async def stream_and_model(harness: PredictiveHarness) -> tuple[DetectorStream, ForecastModel]:
    async with unit_of_work(harness.context.sessions) as session:
        model = (await session.execute(select(ForecastModel))).scalar_one()
        stream = (await session.execute(select(DetectorStream))).scalar_one()
        return stream, model


async def batch_score(harness: PredictiveHarness, model: ForecastModel) -> float:
    """What the detector says of the newest step reading the whole fitted window."""
    assert model.state is not None
    async with unit_of_work(harness.context.sessions) as session:
        series = await load_series(
            MetricRepository(session),
            SIGNAL,
            start=history_start(model.state),
            now=harness.clock.now(),
            step=STEP,
        )
    return float(get_detector("default").score(series.times, series.values)[-1])


async def test_one_step_per_tick_from_the_stored_state(harness: PredictiveHarness) -> None:
    values = seasonal(N + 40, level=300, amplitude=60, noise=8, seed=4)
    values[N + 5] += 400  # a spike the stream must see as the batch detector does
    await harness.history({SIGNAL: values[:N]})
    await harness.train()
    counts = []
    for i in range(8):
        await harness.tick({SIGNAL: float(values[N + i])})
        stream, model = await stream_and_model(harness)
        counts.append(stream.points)
        assert stream.last_score == pytest.approx(await batch_score(harness, model), abs=1e-9)
    assert np.diff(counts).tolist() == [1] * 7  # one new step fed per tick
    assert counts[0] == 36 * 12 + 1  # the first tick read the fitted window once
    assert stream.history_start == history_start(model.state or {})
    assert ("inactive", "firing") in await harness.transitions("LatencyAnomaly")
    # The evaluator paused for an hour: the stream catches up with the steps it missed.
    for i in range(8, 20):
        await harness.feed({SIGNAL: float(values[N + i])})
        harness.clock.advance(seconds=STEP.total_seconds())
    await harness.tick({SIGNAL: float(values[N + 20])})
    stream, model = await stream_and_model(harness)
    assert stream.points == counts[-1] + 13
    assert stream.last_score == pytest.approx(await batch_score(harness, model), abs=1e-9)


async def test_an_unreadable_state_or_a_refit_rebuilds_the_stream(
    harness: PredictiveHarness,
) -> None:
    values = seasonal(N + 20, level=300, amplitude=60, noise=8, seed=5)
    await harness.history({SIGNAL: values[:N]})
    await harness.train()
    await harness.tick({SIGNAL: float(values[N])})
    async with unit_of_work(harness.context.sessions) as session:
        stream = (await session.execute(select(DetectorStream))).scalar_one()
        stream.state = b"garbage"
    await harness.tick({SIGNAL: float(values[N + 1])})
    stream, model = await stream_and_model(harness)
    assert stream.points == 36 * 12 + 2  # rebuilt from the window's start
    assert stream.last_score == pytest.approx(await batch_score(harness, model), abs=1e-9)
    # A refit moves the window's start: the stream starts again there.
    before = stream.history_start
    harness.clock.advance(seconds=harness.forecast_options.retrain_every.total_seconds())
    await harness.tick({SIGNAL: float(values[N + 2])})
    stream, model = await stream_and_model(harness)
    assert model.state is not None
    assert stream.history_start == history_start(model.state) > before
    assert stream.points < 36 * 12  # the window now holds the 6 h gap, without data
    assert stream.last_score == pytest.approx(await batch_score(harness, model), abs=1e-9)
