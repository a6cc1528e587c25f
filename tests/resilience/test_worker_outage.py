"""The job worker under a database outage: it pauses claiming (saying so once), stays alive,
and resumes by itself when the database is back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from intuitivus_flow.config import Settings
from intuitivus_flow.context import AppContext
from intuitivus_flow.jobs.context import JobContext
from intuitivus_flow.jobs.registry import TaskList, TaskRegistry
from intuitivus_flow.jobs.service import enqueue
from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.task_registry import worker_for
from tests.resilience.conftest import OUTAGE_SETTINGS, migrate
from tests.resilience.processes import ThrowawayPostgres


@pytest.fixture
async def context(own_postgres: ThrowawayPostgres, tmp_path: Path) -> AsyncIterator[AppContext]:
    if not own_postgres.running():
        own_postgres.start()
    await migrate(own_postgres.url)
    settings = Settings(
        env="test",
        data_dir=tmp_path,
        database_url=own_postgres.url,
        seed_demo=False,
        **OUTAGE_SETTINGS,
    )
    built = AppContext.build(settings)
    yield built
    await built.close()


def _recording(done: asyncio.Event) -> TaskRegistry:
    tasks = TaskList("resilience")

    @tasks.task("resilience.after-outage")
    async def after_outage(run: JobContext) -> None:
        done.set()

    return TaskRegistry.of(tasks)


def _messages(caplog: pytest.LogCaptureFixture, fragment: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if fragment in r.getMessage()]


async def test_the_worker_pauses_claiming_during_an_outage_and_resumes_by_itself(
    context: AppContext, own_postgres: ThrowawayPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="intuitivus_flow.jobs.worker")
    done = asyncio.Event()
    worker = worker_for(
        context, tasks=_recording(done), poll_interval=0.05, concurrency=2, wakeups=None
    )
    running = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(0.3)  # polling an empty queue
        own_postgres.stop()
        await asyncio.sleep(2.0)  # several failed claims, with growing pauses
        assert not running.done()
        assert len(_messages(caplog, "pauses claiming")) == 1

        own_postgres.start()
        async with unit_of_work(context.sessions) as session:
            await enqueue(session, kind="resilience.after-outage", payload={})
        await asyncio.wait_for(done.wait(), timeout=20)
        for _ in range(100):  # logged once the job's run has returned to the slot
            if _messages(caplog, "resumed claiming"):
                break
            await asyncio.sleep(0.05)
        assert len(_messages(caplog, "resumed claiming")) == 1
    finally:
        worker.stop()
        await asyncio.wait_for(running, timeout=20)


async def test_periodic_scheduling_says_once_per_outage_that_it_cannot_schedule(
    context: AppContext, own_postgres: ThrowawayPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="intuitivus_flow.jobs.worker")
    tasks = TaskList("resilience-periodic")

    @tasks.periodic("resilience.hourly", every=timedelta(hours=1))
    async def hourly(run: JobContext) -> None:
        return None

    worker = worker_for(context, tasks=TaskRegistry.of(tasks), poll_interval=0.05, wakeups=None)
    worker.schedule_every = 0.1  # many scheduling cycles within the outage
    running = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(0.3)
        own_postgres.stop()
        await asyncio.sleep(1.5)
        failures = [r for r in caplog.records if "cannot schedule periodic" in r.getMessage()]
        assert len(failures) == 1
        assert not failures[0].exc_info  # one line: an outage is no bug
        own_postgres.start()
        for _ in range(200):
            if _messages(caplog, "schedules periodic jobs again"):
                break
            await asyncio.sleep(0.05)
        assert len(_messages(caplog, "schedules periodic jobs again")) == 1
    finally:
        worker.stop()
        await asyncio.wait_for(running, timeout=20)
