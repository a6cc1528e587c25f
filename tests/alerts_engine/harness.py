"""A controllable clock and a small driver for the engine on the test databases."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from intuitivus_flow.alerts import engine
from intuitivus_flow.alerts.engine import EngineOptions
from intuitivus_flow.alerts.models import Alert, AlertTransition, NotificationDelivery
from intuitivus_flow.alerts.notifications import service as notifications
from intuitivus_flow.alerts.notifications.service import Notifier
from intuitivus_flow.alerts.rules import RuleSet
from intuitivus_flow.context import AppContext
from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.metrics_history import service as history
from intuitivus_flow.metrics_history.models import MetricSample


@dataclass
class ManualClock:
    """Starts at the current minute (PostgreSQL has partitions for this month and the next)."""

    current: datetime = field(
        default_factory=lambda: datetime.now(UTC).replace(second=0, microsecond=0)
    )

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current


@dataclass
class Harness:
    context: AppContext
    rules: RuleSet
    clock: ManualClock = field(default_factory=ManualClock)
    notifier: Notifier = field(default_factory=lambda: Notifier(destinations=[], transports={}))
    options: EngineOptions = field(default_factory=EngineOptions)

    async def feed(self, values: dict[str, float], instance: str = "web-1") -> None:
        samples = [
            MetricSample(name=name, time=self.clock.now(), instance=instance, value=value)
            for name, value in values.items()
        ]
        async with unit_of_work(self.context.sessions) as session:
            await history.record(session, samples)

    async def evaluate(self) -> engine.EvaluationReport:
        async with unit_of_work(self.context.sessions) as session:
            return await engine.evaluate(
                session,
                self.rules,
                now=self.clock.now(),
                notifier=self.notifier,
                options=self.options,
            )

    async def step(
        self, values: dict[str, float], *, seconds: float = 15, instance: str = "web-1"
    ) -> engine.EvaluationReport:
        """Advance the clock, write one sample, evaluate: one tick of a running instance."""
        self.clock.advance(seconds=seconds)
        await self.feed(values, instance)
        return await self.evaluate()

    async def alerts(self) -> list[Alert]:
        async with unit_of_work(self.context.sessions) as session:
            rows = await session.execute(select(Alert).order_by(Alert.name))
            return list(rows.scalars())

    async def state(self, name: str) -> str | None:
        found = [alert.state for alert in await self.alerts() if alert.name == name]
        assert len(found) <= 1, f"{name} is not deduplicated: {found}"
        return found[0] if found else None

    async def transitions(self, name: str) -> list[tuple[str, str]]:
        async with unit_of_work(self.context.sessions) as session:
            rows = await session.execute(
                select(AlertTransition)
                .where(AlertTransition.name == name)
                .order_by(AlertTransition.at)
            )
            return [(t.from_state, t.to_state) for t in rows.scalars()]

    async def deliveries(self) -> list[NotificationDelivery]:
        async with unit_of_work(self.context.sessions) as session:
            rows = await session.execute(
                select(NotificationDelivery).order_by(NotificationDelivery.created_at)
            )
            return list(rows.scalars())


async def dispatch_due(context: AppContext, notifier: Notifier, now: datetime) -> int:
    """What the dispatcher loop does each tick: every due delivery, one attempt each."""
    async with unit_of_work(context.sessions) as session:
        due = await notifications.due_ids(session, now=now)
    sent = 0
    for delivery_id in due:
        async with unit_of_work(context.sessions) as session:
            sent += await notifications.deliver(session, delivery_id, notifier, now=now)
    return sent
