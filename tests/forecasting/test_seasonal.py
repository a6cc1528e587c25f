"""The seasonal breach model (`predictive.seasonal`) on small synthetic series, and how the
product degrades when it cannot forecast. The model tests are pure NumPy (no database); the
product ones run on both engines."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest

from intuitivus_flow.alerts.rules import parse_rules
from intuitivus_flow.forecasting.training import STATE_VERSION
from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.predictive.seasonal import (
    FloatArray,
    SeasonalModel,
    SeasonalModelError,
    TimeArray,
)
from tests.forecasting.harness import PredictiveHarness, seasonal

STEP_S = 300.0
PER_DAY = 288
HOUR = 3600.0


def grid(n: int) -> TimeArray:
    start = np.datetime64("2026-11-02T00:00:00", "us")
    return start + (np.arange(n) * STEP_S * 1e6).astype("timedelta64[us]")


def process(n: int, *, per_hour: float, swing: float, noise: float, seed: int) -> FloatArray:
    """Level 60, a linear trend, a daily sine (peak to trough `swing`), Gaussian noise."""
    rng = np.random.default_rng(seed)
    steps = np.arange(n)
    return np.asarray(
        60
        + per_hour * steps * STEP_S / HOUR
        + swing / 2 * np.sin(2 * np.pi * steps / PER_DAY + 1.0)
        + rng.normal(0, noise, n),
        dtype=np.float64,
    )


class TestCalibration:
    def test_the_80_percent_band_holds_about_80_percent_of_held_back_values(self) -> None:
        inside = compared = 0
        for seed in range(3):
            y = process(3 * PER_DAY, per_hour=0.2, swing=6, noise=1.0, seed=seed)
            t = grid(len(y))
            train = 2 * PER_DAY
            model = SeasonalModel.fit(t[:train], y[:train], max_horizon=6 * HOUR)
            ahead = STEP_S * np.arange(1, 73, dtype=np.float64)
            for origin in range(train, len(y) - 72, 12):  # never fitted on these values
                path = model.path(t[: origin + 1], y[: origin + 1], ahead)
                future = y[origin + 1 : origin + 73]
                inside += int(((future >= path.lower) & (future <= path.upper)).sum())
                compared += len(future)
        assert 0.7 <= inside / compared <= 0.9

    def test_the_season_is_learnt_with_its_amplitude(self) -> None:
        y = process(2 * PER_DAY, per_hour=0.0, swing=6, noise=0.5, seed=4)
        model = SeasonalModel.fit(grid(len(y)), y)
        seconds = grid(PER_DAY).astype(np.int64) / 1e6
        assert np.ptp(model.season.at(seconds)) == pytest.approx(6, abs=0.6)
        assert model.season.names == ["daily"]


class TestCrossing:
    def test_a_trend_under_a_daily_swing_is_predicted_to_cross_on_time(self) -> None:
        y = process(2 * PER_DAY, per_hour=0.75, swing=5, noise=0.5, seed=1)
        truth = process(2 * PER_DAY, per_hour=0.75, swing=5, noise=0.0, seed=1)
        t = grid(len(y))
        true_cross = int(np.flatnonzero(truth >= 90)[0])
        model = SeasonalModel.fit(t[:PER_DAY], y[:PER_DAY], max_horizon=6 * HOUR)
        origin = true_cross - 48  # 4 h before the true crossing, horizon 6 h
        found, _ = model.crossing(t[: origin + 1], y[: origin + 1], 90.0, 6 * HOUR)
        assert found is not None
        lead = (true_cross - origin) * STEP_S
        assert abs(found.predicted - lead) <= 0.2 * lead
        assert found.earliest <= lead
        assert found.latest is None or lead <= found.latest

    def test_a_flat_series_swinging_below_its_threshold_is_never_predicted_to_cross(
        self,
    ) -> None:
        y = process(3 * PER_DAY, per_hour=0.0, swing=5, noise=1.0, seed=2) + 25  # 85 +- 2.5
        t = grid(len(y))
        model = SeasonalModel.fit(t[:PER_DAY], y[:PER_DAY], max_horizon=6 * HOUR)
        for origin in range(PER_DAY, len(y), 6):
            found, _ = model.crossing(t[: origin + 1], y[: origin + 1], 90.0, 6 * HOUR)
            assert found is None, f"false prediction at step {origin}"

    def test_a_value_already_past_the_threshold_is_the_threshold_alerts_job(self) -> None:
        y = process(PER_DAY + 12, per_hour=1.5, swing=0, noise=0.2, seed=3)  # ends near 96
        model = SeasonalModel.fit(grid(len(y)), y)
        found, path = model.crossing(grid(len(y)), y, 90.0, 6 * HOUR)
        assert found is None
        assert path.centre[0] > 90


class TestColdStartAndState:
    def test_less_than_a_day_cannot_learn_a_daily_season(self) -> None:
        y = process(PER_DAY // 2, per_hour=0.1, swing=4, noise=0.5, seed=5)
        with pytest.raises(SeasonalModelError, match="daily season needs 24 h"):
            SeasonalModel.fit(grid(len(y)), y)

    def test_the_state_round_trips_and_a_damaged_one_is_refused(self) -> None:
        y = process(PER_DAY + 1, per_hour=0.1, swing=4, noise=0.5, seed=6)
        model = SeasonalModel.fit(grid(len(y)), y)
        assert SeasonalModel.from_state(model.to_state()) == model
        damaged = {k: v for k, v in model.to_state().items() if k != "calibration"}
        with pytest.raises(SeasonalModelError, match="lacks calibration"):
            SeasonalModel.from_state(damaged)


# ---- in the product (both engines) -------------------------------------------------------

DISK = "disk_usage_percent"
RULES = """
predictive:
  - {name: DiskFillingUp, kind: forecast_breach, signal: disk_usage_percent, operator: ">",
     threshold: 90, horizon: 6h, severity: warning}
"""


def harness_for(app: Any) -> PredictiveHarness:
    return PredictiveHarness(context=app.state.context, rules=parse_rules(RULES, source="test"))


async def _set_state(harness: PredictiveHarness, **changes: Any) -> None:
    models = await harness.models()
    async with unit_of_work(harness.context.sessions) as session:
        model = await session.get(type(models[f"{DISK}/default"]), models[f"{DISK}/default"].id)
        assert model is not None
        assert model.state is not None
        model.state = {**model.state, **changes}


async def test_the_trainer_stores_the_seasonal_model(app: Any) -> None:
    harness = harness_for(app)
    await harness.history({DISK: seasonal(300, level=60, amplitude=3, noise=0.3, seed=1)})
    await harness.train()
    model = (await harness.models())[f"{DISK}/default"]
    assert model.status == "ready"
    assert model.state is not None
    assert model.state["version"] == STATE_VERSION
    restored = SeasonalModel.from_state(model.state["breach"])
    assert restored.season.names == ["daily"]
    assert restored.calibration.errors > 0


async def test_an_outdated_state_is_refitted_at_once(app: Any) -> None:
    harness = harness_for(app)
    await harness.history({DISK: seasonal(300, level=60, amplitude=3, noise=0.3, seed=1)})
    await harness.train()
    await _set_state(harness, version=1, breach=None)
    (job,) = await harness.train()
    assert job.reason == "schedule"
    assert (await harness.models())[f"{DISK}/default"].state["breach"] is not None  # type: ignore[index]


async def test_without_a_seasonal_model_the_rule_predicts_nothing_and_says_why(
    app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    harness = harness_for(app)
    await harness.history({DISK: seasonal(300, level=60, amplitude=3, noise=0.3, seed=1)})
    await harness.train()
    await _set_state(harness, breach=None, breach_error="2.0 h of history")
    with caplog.at_level(logging.INFO, logger="intuitivus_flow.forecasting.evaluator"):
        report = await harness.tick({DISK: 89.0})
    assert report.transitions == []
    assert (
        "DiskFillingUp: no prediction (no seasonal breach model: 2.0 h of history)" in caplog.text
    )
    assert (await harness.models())[f"{DISK}/default"].status == "ready"


async def test_a_broken_seasonal_model_fails_with_its_reason_and_predicts_nothing(
    app: Any,
) -> None:
    harness = harness_for(app)
    await harness.history({DISK: seasonal(300, level=60, amplitude=3, noise=0.3, seed=1)})
    await harness.train()
    models = await harness.models()
    broken = dict(models[f"{DISK}/default"].state["breach"])  # type: ignore[index]
    broken["daily"] = broken["daily"][:3]  # coefficients that no longer form a season
    await _set_state(harness, breach=broken)
    report = await harness.tick({DISK: 89.0})
    assert report.transitions == []
    model = (await harness.models())[f"{DISK}/default"]
    assert model.status == "failed"
    assert model.last_error is not None
    assert model.last_error.startswith("ValueError")


async def test_a_breach_explanation_names_the_season_compared_with(app: Any) -> None:
    harness = harness_for(app)
    steps = np.arange(2 * PER_DAY)
    # Flat at 60 for a day, then 3 %/h: crosses 90 about 10 h into the second day.
    rising = 60 + 3.0 * np.maximum(steps - PER_DAY, 0) * STEP_S / HOUR
    history = rising[: PER_DAY + 72]  # 6 h into the rise: 78 %
    await harness.history({DISK: history})
    await harness.train()
    report = await harness.tick({DISK: float(rising[PER_DAY + 72])})
    assert ("DiskFillingUp", "inactive", "firing") in report.transitions
    alert = await harness.alert("DiskFillingUp")
    assert alert is not None
    assert alert.annotations["compared_with"] == "same hour yesterday: 60 %; now 78 %"
    assert alert.annotations["model"] == "default + seasonal trend (daily season)"
