"""Drive predictive alerting with a manual clock: bulk history, the trainer, the evaluator.

Time is compressed: one sample per 5-minute model step, written at the start of the step; a
tick writes the step's samples, moves the clock to the step's end (so the step is complete)
and runs what the operations loops run: train, evaluate, dispatch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import numpy.typing as npt
from sqlalchemy import select

from intuitivus_flow.alerts import engine
from intuitivus_flow.alerts.engine import EngineOptions
from intuitivus_flow.alerts.models import Alert
from intuitivus_flow.forecasting import service
from intuitivus_flow.forecasting.evaluator import PredictiveEvaluator
from intuitivus_flow.forecasting.models import ForecastModel
from intuitivus_flow.forecasting.options import ForecastOptions
from intuitivus_flow.forecasting.series import floor_step
from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.metrics_history import service as history
from intuitivus_flow.metrics_history.models import MetricSample
from tests.alerts_engine.harness import Harness, dispatch_due

STEP = timedelta(minutes=5)
PER_DAY = 288
Values = npt.NDArray[np.float64]


def seasonal(n: int, *, level: float, amplitude: float, noise: float, seed: int) -> Values:
    """A daily cycle with Gaussian noise (what a latency or traffic signal looks like)."""
    phase = 2 * np.pi * np.arange(n) / PER_DAY
    rng = np.random.default_rng(seed)
    return level + amplitude * np.sin(phase) + rng.normal(0.0, noise, n)


def ramp(n: int, *, flat: float, start_rising: int, per_hour: float, noise: float) -> Values:
    """Flat, then rising linearly from index `start_rising` (a disk filling up)."""
    rng = np.random.default_rng(11)
    hours = np.maximum(np.arange(n) - start_rising, 0) * STEP.total_seconds() / 3600
    return flat + per_hour * hours + rng.normal(0.0, noise, n)


@dataclass
class PredictiveHarness(Harness):
    forecast_options: ForecastOptions = field(default_factory=lambda: ForecastOptions(step=STEP))
    evaluator: PredictiveEvaluator = field(init=False)

    def __post_init__(self) -> None:
        self.evaluator = PredictiveEvaluator(self.forecast_options)
        # One sample per 5-minute step here (15 s in production): a step-old sample is current.
        self.options = EngineOptions(staleness=STEP + timedelta(minutes=1))
        self.clock.current = floor_step(self.clock.current, STEP)

    async def history(self, series: Mapping[str, Values], instance: str = "web-1") -> None:
        """One sample per step from now on, then the clock at the end of the last step."""
        n = len(next(iter(series.values())))
        start = self.clock.now()
        samples = [
            MetricSample(name=name, time=start + STEP * i, instance=instance, value=float(v))
            for name, values in series.items()
            for i, v in enumerate(values)
        ]
        async with unit_of_work(self.context.sessions) as session:
            await history.record(session, samples)
        self.clock.current = start + STEP * n

    async def train(self) -> list[service.TrainingJob]:
        now = self.clock.now()
        async with unit_of_work(self.context.sessions) as session:
            jobs = await service.plan_training(
                session, self.rules, now=now, options=self.forecast_options
            )
        for job in jobs:
            async with unit_of_work(self.context.sessions) as session:
                await service.train(session, job, now=now, options=self.forecast_options)
        return jobs

    async def evaluate(self) -> engine.EvaluationReport:
        async with unit_of_work(self.context.sessions) as session:
            return await engine.evaluate(
                session,
                self.rules,
                now=self.clock.now(),
                notifier=self.notifier,
                options=self.options,
                predictive=self.evaluator,
            )

    async def tick(self, values: Mapping[str, float]) -> engine.EvaluationReport:
        """One 5-minute step: its samples, then train, evaluate and dispatch at its end."""
        await self.feed(dict(values))
        self.clock.advance(seconds=STEP.total_seconds())
        await self.train()
        report = await self.evaluate()
        await dispatch_due(self.context, self.notifier, self.clock.now())
        return report

    async def run(
        self, steps: int, values: Callable[[int], Mapping[str, float]]
    ) -> list[engine.EvaluationReport]:
        return [await self.tick(values(i)) for i in range(steps)]

    async def models(self) -> dict[str, ForecastModel]:
        async with unit_of_work(self.context.sessions) as session:
            rows = await session.execute(select(ForecastModel))
            return {f"{m.signal}/{m.detector}": m for m in rows.scalars()}

    async def alert(self, name: str) -> Alert | None:
        return next((a for a in await self.alerts() if a.name == name), None)
