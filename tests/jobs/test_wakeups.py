"""LISTEN/NOTIFY wake-ups: on PostgreSQL an idle worker runs a new job at once, not at its next
poll; the notification goes out with the enqueuing commit. SQLite keeps polling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import make_url

from intuitivus_flow.context import AppContext
from intuitivus_flow.jobs import service as jobs
from intuitivus_flow.jobs.context import JobContext
from intuitivus_flow.jobs.registry import TaskList
from intuitivus_flow.jobs.wakeups import PostgresWakeups, wakeups_for
from intuitivus_flow.kit.db import SessionFactory, create_session_factory, unit_of_work
from tests.conftest import Database, empty_tables
from tests.jobs.conftest import make_worker

AN_HOUR = 3600.0


@pytest.fixture
async def sessions(database: Database) -> AsyncIterator[SessionFactory]:
    yield create_session_factory(database.engine)
    await empty_tables(database.engine)


def recording_tasks(ran: asyncio.Event) -> TaskList:
    tasks = TaskList("test")

    @tasks.task("test.wake")
    async def wake(run: JobContext) -> None:
        ran.set()

    return tasks


async def test_an_idle_worker_is_woken_by_the_enqueuing_commit(
    sessions: SessionFactory, context: AppContext, database: Database
) -> None:
    if database.kind != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite workers poll")
    ran = asyncio.Event()
    # Polling an hour apart: only a wake-up can make the job run within this test.
    worker = make_worker(context, tasks=recording_tasks(ran), poll_interval=AN_HOUR)
    assert isinstance(worker.wakeups, PostgresWakeups)
    running = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(worker.wakeups.listening.wait(), timeout=30)
        await asyncio.sleep(0.2)  # the slots' first polls found nothing: they sleep now
        async with unit_of_work(sessions) as session:
            await jobs.enqueue(session, kind="test.wake", payload={})
            await asyncio.sleep(0.3)
            assert not ran.is_set()  # the notification waits for the commit
        await asyncio.wait_for(ran.wait(), timeout=60)
    finally:
        worker.stop()
        await asyncio.wait_for(running, timeout=10)


async def test_a_worker_polls_when_nothing_can_wake_it(context: AppContext) -> None:
    assert wakeups_for(make_url("sqlite+aiosqlite:///flow.db")) is None
    ran = asyncio.Event()
    worker = make_worker(context, tasks=recording_tasks(ran), wakeups=None, poll_interval=0.05)
    running = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(0.2)
        async with unit_of_work(context.sessions) as session:
            await jobs.enqueue(session, kind="test.wake", payload={})
        await asyncio.wait_for(ran.wait(), timeout=30)
    finally:
        worker.stop()
        await asyncio.wait_for(running, timeout=10)
        await empty_tables(context.engine)


async def test_a_listener_that_cannot_connect_leaves_polling_and_says_so_once(
    context: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    unreachable = make_url("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    wakeups = PostgresWakeups(unreachable, reconnect_seconds=0.02)
    ran = asyncio.Event()
    worker = make_worker(context, tasks=recording_tasks(ran), wakeups=wakeups, poll_interval=0.05)
    running = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(0.3)  # several reconnection attempts
        async with unit_of_work(context.sessions) as session:
            await jobs.enqueue(session, kind="test.wake", payload={})
        await asyncio.wait_for(ran.wait(), timeout=30)
    finally:
        worker.stop()
        await asyncio.wait_for(running, timeout=10)
        await empty_tables(context.engine)
    assert not wakeups.listening.is_set()
    warnings = [r for r in caplog.records if "wake-ups unavailable" in r.getMessage()]
    assert len(warnings) == 1
