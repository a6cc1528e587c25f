"""The job worker under a database outage: it pauses claiming (saying so once), stays alive,
and resumes by itself when the database is back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
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
