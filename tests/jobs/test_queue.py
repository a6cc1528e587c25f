"""The durable job queue on real databases: races, crashes, retries, dedupe, stats."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from intuitivus_flow.context import AppContext
from intuitivus_flow.jobs import service as jobs
from intuitivus_flow.jobs.context import JobContext
from intuitivus_flow.jobs.models import Job, JobStatus
from intuitivus_flow.jobs.registry import TaskList
from intuitivus_flow.jobs.worker import (
    PermanentJobError,
    RetryPolicy,
)
from intuitivus_flow.kit.db import SessionFactory, unit_of_work
from intuitivus_flow.kit.models import utcnow
from tests.conftest import Database, empty_tables
from tests.jobs.conftest import make_worker

FAST_RETRY = RetryPolicy(base=timedelta(milliseconds=1), cap=timedelta(milliseconds=5))


@pytest.fixture
async def sessions(database: Database) -> AsyncIterator[SessionFactory]:
    from intuitivus_flow.kit.db import create_session_factory

    yield create_session_factory(database.engine)
    await empty_tables(database.engine)


async def enqueue_many(sessions: SessionFactory, count: int, kind: str = "count") -> None:
    async with unit_of_work(sessions) as session:
        for index in range(count):
            await jobs.enqueue(session, kind=kind, payload={"n": index})


async def statuses(sessions: SessionFactory) -> dict[str, int]:
    async with sessions() as session:
        rows = (await session.execute(select(Job.status, func.count()).group_by(Job.status))).all()
    return {str(status): int(count) for status, count in rows}


def counting_registry(seen: list[int], *, delay: float = 0.0) -> TaskList:
    registry = TaskList("test")

    @registry.task("count")
    async def count(run: JobContext) -> dict[str, Any]:
        job = run.job
        if delay:
            await asyncio.sleep(delay)
        seen.append(job.payload["n"])
        return {"n": job.payload["n"]}

    return registry


async def test_racing_workers_run_each_job_exactly_once(
    sessions: SessionFactory, context: AppContext
) -> None:
    await enqueue_many(sessions, 60)
    seen: list[int] = []
    registry = counting_registry(seen, delay=0.001)
    workers = [make_worker(context, tasks=registry, concurrency=3, name=f"w{i}") for i in range(3)]
    await asyncio.gather(*(worker.run_until_idle() for worker in workers))
    assert sorted(seen) == list(range(60))
    assert await statuses(sessions) == {"succeeded": 60}


async def test_a_dead_workers_job_is_run_again_after_its_lease(
    sessions: SessionFactory, context: AppContext
) -> None:
    await enqueue_many(sessions, 1)
    crashed = make_worker(
        context, tasks=TaskList("test"), lease=timedelta(seconds=30), name="crashed"
    )
    assert await crashed._claim() is not None  # claimed, then the process "died"
    seen: list[int] = []
    survivor = make_worker(context, tasks=counting_registry(seen), name="survivor")
    assert await survivor.run_until_idle() == 0  # the lease still protects it
    async with unit_of_work(sessions) as session:  # time passes: the lease runs out
        await session.execute(update(Job).values(locked_until=utcnow() - timedelta(seconds=1)))
    assert await survivor.run_until_idle() == 1
    assert seen == [0]
    async with sessions() as session:
        job = await session.scalar(select(Job))
    assert job is not None
    assert (job.status, job.attempts, job.locked_by) == ("succeeded", 2, "survivor")


async def test_a_late_finish_from_the_dead_worker_is_discarded(
    sessions: SessionFactory, context: AppContext
) -> None:
    await enqueue_many(sessions, 1)
    first = make_worker(context, name="first")
    job_id = await first._claim()
    assert job_id is not None
    async with unit_of_work(sessions) as session:
        await session.execute(update(Job).values(locked_until=utcnow() - timedelta(seconds=1)))
    second = make_worker(context, name="second")
    assert await second._claim() == job_id
    from intuitivus_flow.jobs.repository import JobQueueRepository

    async with unit_of_work(sessions) as session:
        stale = await JobQueueRepository(session).finish(
            job_id, worker="first", now=utcnow(), result=None
        )
    assert stale is False


async def test_failures_retry_with_backoff_then_give_up(
    sessions: SessionFactory, context: AppContext
) -> None:
    registry = TaskList("test")
    calls: list[int] = []

    @registry.task("flaky")
    async def flaky(run: JobContext) -> None:
        job = run.job
        calls.append(job.attempts)
        raise RuntimeError("vendor down")

    async with unit_of_work(sessions) as session:
        await jobs.enqueue(session, kind="flaky", payload={}, max_attempts=3)
    worker = make_worker(context, tasks=registry, retry=FAST_RETRY)
    for _ in range(3):
        await asyncio.sleep(0.01)
        await worker.run_until_idle()
    assert calls == [1, 2, 3]
    async with sessions() as session:
        job = await session.scalar(select(Job))
    assert job is not None
    assert job.status == JobStatus.failed
    assert job.last_error == "RuntimeError: vendor down"


async def test_retry_waits_for_its_backoff(sessions: SessionFactory, context: AppContext) -> None:
    registry = TaskList("test")

    @registry.task("flaky")
    async def flaky(run: JobContext) -> None:
        raise RuntimeError("later")

    async with unit_of_work(sessions) as session:
        await jobs.enqueue(session, kind="flaky", payload={})
    slow_retry = RetryPolicy(base=timedelta(minutes=1))
    worker = make_worker(context, tasks=registry, retry=slow_retry)
    assert await worker.run_until_idle() == 1
    assert await worker.run_until_idle() == 0  # not due yet
    async with sessions() as session:
        job = await session.scalar(select(Job))
    assert job is not None
    assert job.status == "queued"
    assert job.run_at > utcnow() + timedelta(seconds=25)


async def test_permanent_errors_and_unknown_kinds_fail_at_once(
    sessions: SessionFactory, context: AppContext
) -> None:
    registry = TaskList("test")

    @registry.task("bad")
    async def bad(run: JobContext) -> None:
        raise PermanentJobError("contact deleted")

    async with unit_of_work(sessions) as session:
        await jobs.enqueue(session, kind="bad", payload={})
        await jobs.enqueue(session, kind="nobody-handles-this", payload={})
    await make_worker(context, tasks=registry).run_until_idle()
    assert await statuses(sessions) == {"failed": 2}


async def test_handler_writes_roll_back_with_a_failed_attempt(
    sessions: SessionFactory, context: AppContext
) -> None:
    from intuitivus_flow.workspaces.models import Workspace

    registry = TaskList("test")

    @registry.task("half-done")
    async def half_done(run: JobContext) -> None:
        session = run.session
        session.add(Workspace(name="written then failed"))
        await session.flush()
        raise RuntimeError("boom after writing")

    async with unit_of_work(sessions) as session:
        await jobs.enqueue(session, kind="half-done", payload={}, max_attempts=1)
    await make_worker(context, tasks=registry).run_until_idle()
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Workspace)) == 0


async def test_dedupe_key_enqueues_once(sessions: SessionFactory) -> None:
    async with unit_of_work(sessions) as session:
        first = await jobs.enqueue(session, kind="count", payload={"n": 1}, dedupe_key="step:1")
        again = await jobs.enqueue(session, kind="count", payload={"n": 1}, dedupe_key="step:1")
    assert first.id == again.id
    async with unit_of_work(sessions) as session:  # and across transactions
        later = await jobs.enqueue(session, kind="count", payload={"n": 1}, dedupe_key="step:1")
    assert later.id == first.id
    assert sum((await statuses(sessions)).values()) == 1


async def test_enqueue_is_part_of_the_callers_transaction(sessions: SessionFactory) -> None:
    async def business_write_that_fails() -> None:
        async with unit_of_work(sessions) as session:
            await jobs.enqueue(session, kind="count", payload={"n": 1})
            raise RuntimeError("the business write failed")

    with pytest.raises(RuntimeError):
        await business_write_that_fails()
    assert await statuses(sessions) == {}


async def test_a_deduplicated_enqueue_rolls_back_with_the_callers_transaction(
    sessions: SessionFactory,
) -> None:
    # The enqueue is the transaction's first statement: on SQLite a savepoint there would have
    # committed on its own and left a job for work that never happened.
    async def first_write_then_fail() -> None:
        async with unit_of_work(sessions) as session:
            await jobs.enqueue(session, kind="count", payload={"n": 1}, dedupe_key="step:9")
            raise RuntimeError("the business write failed")

    with pytest.raises(RuntimeError):
        await first_write_then_fail()
    assert await statuses(sessions) == {}


async def test_concurrent_deduplicated_enqueues_make_one_job(sessions: SessionFactory) -> None:
    async def enqueue_once() -> Job:
        async with unit_of_work(sessions) as session:
            return await jobs.enqueue(session, kind="count", payload={"n": 1}, dedupe_key="k")

    made = await asyncio.gather(*(enqueue_once() for _ in range(8)))
    assert len({job.id for job in made}) == 1
    assert await statuses(sessions) == {"queued": 1}


async def test_depth_and_lag(sessions: SessionFactory) -> None:
    async with unit_of_work(sessions) as session:
        await jobs.enqueue(
            session, kind="count", payload={"n": 1}, run_at=utcnow() - timedelta(seconds=30)
        )
        await jobs.enqueue(session, kind="count", payload={"n": 2})
        await jobs.enqueue(
            session, kind="count", payload={"n": 3}, run_at=utcnow() + timedelta(hours=1)
        )  # scheduled: not ready
    async with sessions() as session:
        (stats,) = await jobs.queue_stats(session)
    assert stats.queue == "default"
    assert stats.depth == 2
    assert 29 <= stats.lag_seconds < 120
    assert stats.running == 0


async def test_a_running_worker_stops_cleanly(
    sessions: SessionFactory, context: AppContext
) -> None:
    seen: list[int] = []
    worker = make_worker(context, tasks=counting_registry(seen), poll_interval=0.05)
    task = asyncio.create_task(worker.run())
    await enqueue_many(sessions, 5)
    for _ in range(100):
        if len(seen) == 5:
            break
        await asyncio.sleep(0.05)
    worker.stop()
    await asyncio.wait_for(task, timeout=5)
    assert sorted(seen) == [0, 1, 2, 3, 4]
