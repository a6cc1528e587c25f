"""Model lifecycle: cold start stays silent, failures degrade to "no prediction" without
touching the other alerts, retraining happens on schedule and on drift. Both engines."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from intuitivus_flow.alerts.rules import parse_rules
from intuitivus_flow.forecasting import service
from intuitivus_flow.forecasting.options import ForecastOptions
from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.predictive import detectors
from intuitivus_flow.predictive.detectors import FloatArray, TimeArray
from tests.forecasting.harness import STEP, PredictiveHarness, seasonal

CPU = "cpu_usage_percent"
RULES = """
thresholds:
  - {name: HighCpuUsage, signal: cpu_usage_percent, operator: ">", threshold: 80, for: 0s,
     severity: warning}
predictive:
  - {name: CpuAnomaly, kind: anomaly, signal: cpu_usage_percent, detector: DETECTOR,
     severity: warning}
"""


@dataclass
class Exploding:
    """A detector that raises: at once, or only once `armed` (after a good fit)."""

    name: str = "exploding"
    armed: list[bool] = field(default_factory=lambda: [True])

    def score(self, times: TimeArray, values: FloatArray) -> FloatArray:
        if self.armed[0]:
            raise RuntimeError("boom: singular matrix")
        return np.zeros(len(values))


@pytest.fixture
def exploding(monkeypatch: pytest.MonkeyPatch) -> Exploding:
    detectors.available()  # load the built-ins first, then add ours for this test only
    detector = Exploding()
    monkeypatch.setitem(detectors._REGISTRY, "exploding", lambda: detector)
    return detector


def harness_for(app: Any, detector: str = "default", **options: Any) -> PredictiveHarness:
    rules = parse_rules(RULES.replace("DETECTOR", detector), source="test")
    forecast = replace(ForecastOptions(step=STEP), **options)
    return PredictiveHarness(context=app.state.context, rules=rules, forecast_options=forecast)


def calm(n: int, seed: int = 5, noise: float = 1.0) -> FloatArray:
    return seasonal(n, level=40, amplitude=5, noise=noise, seed=seed)


async def test_cold_start_reports_its_progress_and_never_fires(app: Any) -> None:
    harness = harness_for(app)
    await harness.history({CPU: calm(100)})
    assert await harness.train() == []
    (model,) = (await harness.models()).values()
    assert (model.status, model.points_used, model.state) == ("cold_start", 100, None)

    report = await harness.tick({CPU: 75.0})  # a huge jump, still under the threshold rule
    assert report.transitions == []
    assert await harness.alerts() == []

    await harness.history({CPU: calm(200, seed=6)})  # now 301 steps >= 288
    (job,) = await harness.train()
    assert job.reason == "initial"
    (model,) = (await harness.models()).values()
    assert model.status == "ready"
    assert model.points_used == 301
    assert model.state is not None
    assert model.state["history_start"] <= model.state["history_end"]


async def test_a_detector_failing_to_fit_degrades_and_other_alerts_still_fire(
    app: Any, exploding: Exploding
) -> None:
    harness = harness_for(app, detector="exploding")
    await harness.history({CPU: calm(300)})
    assert len(await harness.train()) == 1
    (model,) = (await harness.models()).values()
    assert model.status == "failed"
    assert model.last_error == "RuntimeError: boom: singular matrix"
    assert model.state is None

    report = await harness.tick({CPU: 95.0})
    assert report.transitions == [("HighCpuUsage", "inactive", "firing")]
    assert await harness.alert("CpuAnomaly") is None
    # Retried after a pause (15 min), not on every tick.
    assert await harness.train() == []
    harness.clock.advance(minutes=15)
    (retry,) = await harness.train()
    assert retry.reason == "retry"


async def test_a_detector_failing_while_predicting_degrades_in_the_same_evaluation(
    app: Any, exploding: Exploding
) -> None:
    exploding.armed[0] = False
    harness = harness_for(app, detector="exploding")
    await harness.history({CPU: calm(300)})
    await harness.train()
    assert (await harness.models())["cpu_usage_percent/exploding"].status == "ready"

    exploding.armed[0] = True
    report = await harness.tick({CPU: 95.0})
    assert report.transitions == [("HighCpuUsage", "inactive", "firing")]
    model = (await harness.models())["cpu_usage_percent/exploding"]
    assert model.status == "failed"
    assert model.last_error == "RuntimeError: boom: singular matrix"


async def test_the_training_state_is_visible_while_a_fit_runs(app: Any) -> None:
    harness = harness_for(app)
    await harness.history({CPU: calm(300)})
    async with unit_of_work(app.state.context.sessions) as session:
        (job,) = await service.plan_training(
            session, harness.rules, now=harness.clock.now(), options=harness.forecast_options
        )
    (model,) = (await harness.models()).values()
    assert model.status == "training"
    async with unit_of_work(app.state.context.sessions) as session:
        await service.train(session, job, now=harness.clock.now(), options=harness.forecast_options)
    (model,) = (await harness.models()).values()
    assert model.status == "ready"


async def test_retrained_on_schedule(app: Any) -> None:
    harness = harness_for(app, retrain_every=timedelta(minutes=30))
    await harness.history({CPU: calm(300)})
    await harness.train()
    first = (await harness.models())["cpu_usage_percent/default"].trained_at
    more = calm(400, seed=9)[300:]
    for i in range(5):  # 25 minutes: not yet due
        await harness.tick({CPU: float(more[i])})
    assert (await harness.models())["cpu_usage_percent/default"].trained_at == first
    await harness.tick({CPU: float(more[5])})  # 30 minutes
    model = (await harness.models())["cpu_usage_percent/default"]
    assert model.train_reason == "schedule"
    assert model.trained_at == first + timedelta(minutes=30)
    assert model.points_used == 306


async def test_retrained_when_the_residuals_drift(app: Any) -> None:
    harness = harness_for(app, retrain_every=timedelta(days=1))
    await harness.history({CPU: calm(300)})
    await harness.train()
    first = await harness.models()

    await harness.history({CPU: calm(380, seed=8)[300:]})  # 80 more steps, same behaviour
    assert await harness.train() == []
    steady = (await harness.models())["cpu_usage_percent/default"]
    assert steady.drift_score is not None
    assert steady.drift_score < 1
    assert steady.trained_at == first["cpu_usage_percent/default"].trained_at

    await harness.history({CPU: calm(80, seed=10, noise=6.0)})  # six times noisier
    (job,) = await harness.train()
    assert job.reason == "drift"
    model = (await harness.models())["cpu_usage_percent/default"]
    assert model.status == "ready"
    assert model.train_reason == "drift"
    assert model.trained_at == harness.clock.now()
    assert model.state is not None
    assert model.state["history_end"] > steady.state["history_end"]  # type: ignore[index]
