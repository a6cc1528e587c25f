"""Periodic jobs: one job per slot however many workers schedule it, run like any other job."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from intuitivus_flow.context import AppContext
from intuitivus_flow.jobs import periodic
from intuitivus_flow.jobs.context import JobContext
from intuitivus_flow.jobs.models import Job
from intuitivus_flow.jobs.registry import TaskList, TaskRegistry
from intuitivus_flow.kit.db import SessionFactory, unit_of_work
from tests.conftest import Database, empty_tables
from tests.jobs.conftest import make_worker

HOURLY = "test.hourly"
NIGHTLY_ON_OTHER_QUEUE = "test.nightly"


@pytest.fixture
async def sessions(database: Database) -> AsyncIterator[SessionFactory]:
    from intuitivus_flow.kit.db import create_session_factory

    yield create_session_factory(database.engine)
    await empty_tables(database.engine)


@pytest.fixture
def handlers() -> tuple[TaskList, list[datetime]]:
    registry = TaskList("test")
    slots: list[datetime] = []

    @registry.periodic(HOURLY, every=timedelta(hours=1))
    async def hourly(run: JobContext) -> dict[str, Any]:
        job = run.job
        slots.append(periodic.slot_of(job))
        return {"ran": True}

    @registry.periodic(NIGHTLY_ON_OTHER_QUEUE, every=timedelta(days=1), queue="nightly")
    async def nightly(run: JobContext) -> None:
        raise AssertionError("a worker of other queues must not schedule or run this")

    return registry, slots


async def periodic_jobs(sessions: SessionFactory) -> list[Job]:
    async with sessions() as session:
        rows = await session.execute(select(Job).where(Job.kind.startswith("test.")))
        return list(rows.scalars())


def test_slots_are_cut_from_the_epoch_in_utc() -> None:
    hourly = periodic.Periodic(HOURLY, timedelta(hours=1))
    moment = datetime(2026, 11, 25, 10, 59, 59, tzinfo=UTC)
    assert hourly.slot_start(moment) == datetime(2026, 11, 25, 10, tzinfo=UTC)
    assert hourly.slot_start(moment + timedelta(seconds=1)) == datetime(
        2026, 11, 25, 11, tzinfo=UTC
    )
    daily = periodic.Periodic("d", timedelta(days=1))
    assert daily.slot_start(moment) == datetime(2026, 11, 25, tzinfo=UTC)


def test_intervals_under_a_minute_are_refused() -> None:
    with pytest.raises(ValueError, match="once a minute"):
        TaskList("test").periodic("too.often", every=timedelta(seconds=5))


async def test_many_workers_scheduling_one_slot_make_one_job(
    sessions: SessionFactory, handlers: tuple[TaskList, list[datetime]], context: AppContext
) -> None:
    registry, slots = handlers
    workers = [make_worker(context, tasks=registry, name=f"w{i}") for i in range(4)]
    await asyncio.gather(*(worker.schedule_periodic() for worker in workers))
    await asyncio.gather(*(worker.schedule_periodic() for worker in workers))
    (job,) = await periodic_jobs(sessions)
    assert job.kind == HOURLY  # the nightly job's queue is not served by these workers
    await asyncio.gather(*(worker.run_until_idle() for worker in workers))
    assert len(slots) == 1
    assert slots[0] == periodic.Periodic(HOURLY, timedelta(hours=1)).slot_start(job.created_at)


async def test_each_new_slot_gets_its_own_job(
    sessions: SessionFactory, handlers: tuple[TaskList, list[datetime]]
) -> None:
    registry, _ = handlers
    start = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
    for minutes in (0, 20, 40, 90):  # slots 10:00, 10:00, 11:00, 12:00
        async with unit_of_work(sessions) as session:
            await periodic.schedule_due(
                session,
                queues=["default"],
                tasks=TaskRegistry.of(registry),
                now=start + timedelta(minutes=minutes),
            )
    run_ats = sorted(job.run_at.replace(tzinfo=UTC) for job in await periodic_jobs(sessions))
    assert [moment.hour for moment in run_ats] == [10, 11, 12]


async def test_a_running_worker_schedules_and_runs_the_current_slot(
    sessions: SessionFactory, handlers: tuple[TaskList, list[datetime]], context: AppContext
) -> None:
    registry, slots = handlers
    worker = make_worker(context, tasks=registry, poll_interval=0.05, schedule_every=0.05)
    task = asyncio.create_task(worker.run())
    for _ in range(100):
        if slots:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # several scheduling rounds later, still the one slot
    worker.stop()
    await asyncio.wait_for(task, timeout=5)
    assert len(slots) == 1
    assert len(await periodic_jobs(sessions)) == 1
