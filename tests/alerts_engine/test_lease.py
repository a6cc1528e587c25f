"""Only one instance evaluates at a time: the lease, raced by two engines on one database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from intuitivus_flow.alerts import lease
from intuitivus_flow.context import AppContext
from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.metrics_history.sampler import PrometheusSource
from intuitivus_flow.operations import Operations
from tests.alerts_engine.harness import ManualClock


@pytest.fixture
async def second_instance(app: Any) -> AsyncIterator[AppContext]:
    """Another process's view: its own engine and pool on the same database."""
    context = AppContext.build(app.state.context.settings)
    yield context
    await context.close()


def _operations(context: AppContext, clock: ManualClock, holder: str) -> Operations:
    source = PrometheusSource(lambda: CollectorRegistry())
    return Operations(context=context, source=source, clock=clock, holder=holder)


async def test_two_racing_instances_never_both_evaluate(
    app: Any, second_instance: AppContext
) -> None:
    clock = ManualClock()
    first = _operations(app.state.context, clock, "instance-a")
    second = _operations(second_instance, clock, "instance-b")
    for _ in range(10):
        reports = await asyncio.gather(first.evaluate_once(), second.evaluate_once())
        assert sum(report is not None for report in reports) == 1
        assert first.leading != second.leading
        clock.advance(seconds=15)  # within the lease: the same holder keeps it
    winner = first if first.leading else second
    loser = second if winner is first else first

    # The holder stops renewing (it died); once the lease (3 x 15 s) expires the other takes
    # over. The clock is already 15 s past the last renewal.
    clock.advance(seconds=29)
    assert await loser.evaluate_once() is None
    clock.advance(seconds=2)
    assert await loser.evaluate_once() is not None
    assert await winner.evaluate_once() is None
    async with unit_of_work(app.state.context.sessions) as session:
        holder = await lease.holder_of(session, name=lease.EVALUATOR_LEASE, now=clock.now())
    assert holder == loser.holder


async def test_release_hands_over_at_once(app: Any, second_instance: AppContext) -> None:
    clock = ManualClock()
    first = _operations(app.state.context, clock, "instance-a")
    second = _operations(second_instance, clock, "instance-b")
    assert await first.evaluate_once() is not None
    assert await second.evaluate_once() is None
    await first.release()
    assert await second.evaluate_once() is not None


async def test_renewal_keeps_the_start_and_a_takeover_resets_it(app: Any) -> None:
    clock = ManualClock()
    ttl = timedelta(seconds=30)
    async with unit_of_work(app.state.context.sessions) as session:
        assert await lease.try_acquire(session, name="job", holder="a", now=clock.now(), ttl=ttl)
        assert await lease.try_acquire(
            session, name="job", holder="a", now=clock.advance(seconds=20), ttl=ttl
        )
        assert not await lease.try_acquire(
            session, name="job", holder="b", now=clock.advance(seconds=20), ttl=ttl
        )
        assert await lease.try_acquire(
            session, name="job", holder="b", now=clock.advance(seconds=31), ttl=ttl
        )
        assert await lease.holder_of(session, name="job", now=clock.now()) == "b"
