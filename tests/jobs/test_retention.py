"""Job retention: finished jobs are deleted after their retention, in bounded batches; jobs
that are waiting, running or still within their retention stay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from intuitivus_flow.context import AppContext
from intuitivus_flow.jobs import retention
from intuitivus_flow.jobs.models import Job, JobStatus
from intuitivus_flow.kit.db import SessionFactory, create_session_factory, unit_of_work
from intuitivus_flow.kit.models import utcnow
from tests.conftest import Database, empty_tables
from tests.jobs.conftest import make_worker

RETENTION = retention.Retention(done=timedelta(days=14), failed=timedelta(days=30))


@pytest.fixture
async def sessions(database: Database) -> AsyncIterator[SessionFactory]:
    yield create_session_factory(database.engine)
    await empty_tables(database.engine)


async def add_jobs(sessions: SessionFactory, now: datetime) -> None:
    """Named by kind: `<status>-<days since it finished>`."""
    rows = [
        (JobStatus.succeeded, 20, 3),  # three, to take more than one batch of two
        (JobStatus.succeeded, 5, 1),
        (JobStatus.cancelled, 20, 1),
        (JobStatus.failed, 20, 1),
        (JobStatus.failed, 40, 1),
    ]
    async with unit_of_work(sessions) as session:
        for status, days, count in rows:
            for _ in range(count):
                finished = now - timedelta(days=days)
                session.add(
                    Job(
                        kind=f"{status.value}-{days}",
                        payload={},
                        status=status.value,
                        run_at=finished,
                        created_at=finished,
                        finished_at=finished,
                    )
                )
        # Old, but not finished: never pruned.
        old = now - timedelta(days=90)
        session.add(Job(kind="queued-old", queue="elsewhere", payload={}, run_at=old))
        session.add(
            Job(
                kind="running-old",
                payload={},
                status=JobStatus.running,
                run_at=now - timedelta(days=90),
            )
        )


async def remaining(sessions: SessionFactory) -> list[str]:
    async with sessions() as session:
        return sorted((await session.scalars(select(Job.kind))).all())


async def test_finished_jobs_past_their_retention_are_deleted_in_batches(
    sessions: SessionFactory,
) -> None:
    now = utcnow()
    await add_jobs(sessions, now)
    outcome = await retention.prune(sessions, RETENTION, now=now, batch=2)
    assert outcome == {"deleted_done": 4, "deleted_failed": 1}
    assert await remaining(sessions) == [
        "failed-20",
        "queued-old",
        "running-old",
        "succeeded-5",
    ]
    assert await retention.prune(sessions, RETENTION, now=now, batch=2) == {
        "deleted_done": 0,
        "deleted_failed": 0,
    }


async def test_one_run_stops_after_its_batches_and_the_next_carries_on(
    sessions: SessionFactory,
) -> None:
    now = utcnow()
    await add_jobs(sessions, now)
    first = await retention.prune(sessions, RETENTION, now=now, batch=1, max_batches=2)
    assert first["deleted_done"] == 2
    second = await retention.prune(sessions, RETENTION, now=now, batch=1, max_batches=10)
    assert second["deleted_done"] == 2
    assert "succeeded-20" not in await remaining(sessions)


async def test_the_hourly_prune_runs_as_a_periodic_job_with_the_settings_retention(
    sessions: SessionFactory, context: AppContext
) -> None:
    now = utcnow()
    await add_jobs(sessions, now)
    worker = make_worker(context, tasks=retention.TASKS)
    assert await worker.schedule_periodic() == 1
    assert await worker.run_until_idle() == 1
    async with sessions() as session:
        prune_job = await session.scalar(select(Job).where(Job.kind == retention.PRUNE_FINISHED))
    assert prune_job is not None
    # FLOW_JOB_RETENTION_DAYS 14 and FLOW_JOB_FAILED_RETENTION_DAYS 30 by default.
    assert prune_job.result == {"deleted_done": 4, "deleted_failed": 1}
    assert "failed-20" in await remaining(sessions)
