"""Evaluator CPU per tick: rescoring the history (before) vs the persisted incremental state.

    python benchmarks/detector_stream.py [--days 14] [--ticks 30] [--samples-per-step 1]

A throw-away SQLite database holds `--days` of one latency signal (one sample per 5-minute
step per `--samples-per-step`); the trainer fits the default model; then each tick adds one
step and evaluates the anomaly rule at its end. BEFORE is the evaluator's previous anomaly
path, measured in the same run: load the whole fitted window (14 days) and score it with the
batch detector. AFTER is `PredictiveEvaluator.anomaly` as shipped: load the steps the reading
shows (the newest 7, the same step a day and a week before), feed the new step to the
detector state stored in `forecast_detector_streams`, store it back. Both read the same
database; CPU is the process time of the call (database included, SQLite runs in-process).
The first AFTER tick builds the state (one pass over the window) and is reported apart. A
detector-only table (no database) follows: batch score of the window vs one update with the
state (de)serialised.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow import models as _models  # noqa: F401  (every table in the metadata)
from intuitivus_flow.alerts.rules import parse_rules
from intuitivus_flow.config import Settings
from intuitivus_flow.forecasting import service
from intuitivus_flow.forecasting.evaluator import PredictiveEvaluator
from intuitivus_flow.forecasting.models import DetectorStream, ForecastModel
from intuitivus_flow.forecasting.options import ForecastOptions
from intuitivus_flow.forecasting.series import load_series
from intuitivus_flow.forecasting.training import history_start
from intuitivus_flow.kit.db import create_engine, create_session_factory, unit_of_work
from intuitivus_flow.kit.models import Base
from intuitivus_flow.metrics_history import service as history
from intuitivus_flow.metrics_history.models import MetricSample
from intuitivus_flow.metrics_history.repository import MetricRepository
from intuitivus_flow.predictive.detectors import get_detector
from intuitivus_flow.predictive.detectors.robust import RobustResidualDetector
from intuitivus_flow.predictive.detectors.stream import DetectorState

STEP = timedelta(minutes=5)
PER_DAY = 288
SIGNAL = "response_time_p95_ms"
RULES = f"""
predictive:
  - {{name: LatencyAnomaly, kind: anomaly, signal: {SIGNAL}, severity: warning,
     summary: latency departs from its pattern}}
"""
START = datetime(2026, 11, 1, tzinfo=UTC)


def latency(n: int) -> np.ndarray:
    phase = 2 * np.pi * np.arange(n) / PER_DAY
    return 300 + 60 * np.sin(phase) + np.random.default_rng(4).normal(0, 8, n)


def samples(values: np.ndarray, first: int, per_step: int) -> list[MetricSample]:
    return [
        MetricSample(
            name=SIGNAL,
            time=START + STEP * (first + i) + STEP * j / per_step,
            instance="web-1",
            value=float(v),
        )
        for i, v in enumerate(values.tolist())
        for j in range(per_step)
    ]


async def run(days: int, ticks: int, per_step: int) -> None:
    n = days * PER_DAY
    values = latency(n + 2 * ticks + 1)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(env="test", data_dir=Path(tmp))
        engine = create_engine(settings)
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        sessions = create_session_factory(engine)
        async with unit_of_work(sessions) as session:
            await history.record(session, samples(values[:n], 0, per_step))
        options = ForecastOptions(step=STEP, history=timedelta(days=days))
        rules = parse_rules(RULES, source="bench")
        now = START + STEP * n
        async with unit_of_work(sessions) as session:
            jobs = await service.plan_training(session, rules, now=now, options=options)
        for job in jobs:
            async with unit_of_work(sessions) as session:
                await service.train(session, job, now=now, options=options)
        print(f"{days} days x {per_step} sample(s) per 5-min step, {n} steps; trained", flush=True)

        evaluator = PredictiveEvaluator(options)
        before: list[float] = []
        after: list[float] = []
        first_after = 0.0
        for i in range(2 * ticks):
            async with unit_of_work(sessions) as session:
                await history.record(session, samples(values[n + i : n + i + 1], n + i, per_step))
            now = START + STEP * (n + i + 1)
            async with unit_of_work(sessions) as session:
                model = next(iter(await service.list_models(session)))
                cpu = time.process_time()
                if i % 2 == 0:  # alternate, so both see the same database state and load
                    old = await old_anomaly(session, model, now=now)
                    before.append(time.process_time() - cpu)
                else:
                    new = await evaluator.anomaly(session, model, now=now)
                    spent = time.process_time() - cpu
                    if i == 1:
                        first_after = spent
                    else:
                        after.append(spent)
                    assert new is not None
            if i % 10 == 0:
                print(f"  tick {i + 1}/{2 * ticks}", flush=True)
        assert old is not None
        async with unit_of_work(sessions) as session:
            stream = (await session.execute(select(DetectorStream))).scalar_one()
            state_bytes = len(stream.state)
        await engine.dispose()

    b, a = statistics.median(before), statistics.median(after)
    print()
    print("evaluator anomaly path, CPU per tick (median, database included)")
    print(f"{'path':<52}{'CPU ms':>10}{'ratio':>9}")
    print(f"{'before: load 14 days + batch score':<52}{b * 1e3:>10.2f}{1.0:>9.2f}")
    print(f"{'after: newest steps + state update + store':<52}{a * 1e3:>10.2f}{b / a:>9.2f}")
    print(f"{'after, first tick (builds the state)':<52}{first_after * 1e3:>10.2f}")
    print(f"stored state: {state_bytes} bytes")
    detector_only(values[:n])


async def old_anomaly(session: AsyncSession, model: ForecastModel, *, now: datetime) -> float:
    """The evaluator's anomaly path before the stream: the whole window, scored in batch."""
    assert model.state is not None
    series = await load_series(
        MetricRepository(session),
        model.signal,
        start=history_start(model.state),
        now=now,
        step=STEP,
    )
    scores = await asyncio.to_thread(
        get_detector(model.detector).score, series.times, series.values
    )
    return float(scores[-1])


def detector_only(values: np.ndarray) -> None:
    detector = RobustResidualDetector()
    step = np.timedelta64(5, "m")
    times = np.datetime64("2026-11-01T00:00", "us") + np.arange(len(values) + 50) * step
    extended = np.concatenate([values, latency(len(values) + 50)[-50:]])
    batch = []
    for k in range(10):
        cpu = time.process_time()
        detector.score(times[: len(values) + k], extended[: len(values) + k])
        batch.append(time.process_time() - cpu)
    cpu = time.process_time()
    state, _ = detector.update(detector.start(step), times[: len(values)], values)
    build = time.process_time() - cpu
    data = state.to_bytes()
    incremental = []
    for k in range(50):
        i = len(values) + k
        cpu = time.process_time()
        restored = DetectorState.from_bytes(data)
        state, _ = detector.update(restored, times[i : i + 1], extended[i : i + 1])
        data = state.to_bytes()
        incremental.append(time.process_time() - cpu)
    b, a = statistics.median(batch), statistics.median(incremental)
    print()
    print(f"detector only, {len(values)}-step window (median CPU per new step)")
    print(f"{'batch score of the window':<52}{b * 1e3:>10.2f}{1.0:>9.2f}")
    print(f"{'state from bytes + update(1 step) + to bytes':<52}{a * 1e3:>10.2f}{b / a:>9.2f}")
    print(f"{'one pass building the state':<52}{build * 1e3:>10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--ticks", type=int, default=30)
    parser.add_argument("--samples-per-step", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(run(args.days, args.ticks, args.samples_per_step))


if __name__ == "__main__":
    main()
