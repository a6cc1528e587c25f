"""The composition root: every worker gets a registry of its own with every domain's declared
tasks, and the operations work a minute or more apart runs as periodic jobs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from intuitivus_flow.alerts import lease
from intuitivus_flow.context import AppContext
from intuitivus_flow.forecasting import tasks as forecasting_tasks
from intuitivus_flow.jobs.context import JobContext
from intuitivus_flow.jobs.models import Job, JobStatus
from intuitivus_flow.jobs.registry import TaskList, TaskRegistry
from intuitivus_flow.kit.db import SessionFactory, create_session_factory, unit_of_work
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.metrics_history import tasks as history_tasks
from intuitivus_flow.task_registry import task_registry, worker_for
from tests.conftest import Database, empty_tables

OPERATIONS = (forecasting_tasks.TRAIN_MODELS, history_tasks.MAINTAIN_HISTORY)


@pytest.fixture
async def sessions(database: Database) -> AsyncIterator[SessionFactory]:
    yield create_session_factory(database.engine)
    await empty_tables(database.engine)


def test_each_worker_gets_its_own_registry_of_every_domains_tasks() -> None:
    first, second = task_registry(), task_registry()
    assert first is not second
    assert first.kinds() == second.kinds()
    assert {
        "agent_task.run",
        "crew.step",
        "billing.sweep_subscriptions",
        "campaign.step",
        "conversation.reply",
        "data.import",
        "jobs.prune_finished",
        *OPERATIONS,
    } <= first.kinds()
    periods = {spec.kind: spec.every for spec in first.periodic(["default"])}
    assert periods[forecasting_tasks.TRAIN_MODELS] == timedelta(minutes=1)
    assert periods[history_tasks.MAINTAIN_HISTORY] == timedelta(hours=1)


def test_a_kind_declared_twice_is_refused() -> None:
    one, other = TaskList("one"), TaskList("other")

    async def handler(job: JobContext) -> None:
        return None

    one.task("same.kind")(handler)
    other.task("same.kind")(handler)
    with pytest.raises(ValueError, match="declared twice"):
        TaskRegistry.of(one, other)
    with pytest.raises(ValueError, match="twice"):
        one.task("same.kind")(handler)


async def test_trainer_and_history_maintenance_run_as_periodic_jobs(
    sessions: SessionFactory, context: AppContext
) -> None:
    worker = worker_for(context, tasks=task_registry().only(*OPERATIONS))
    assert worker.schedule_every == 30  # twice per slot of the one-minute trainer
    assert await worker.schedule_periodic() == 2
    assert await worker.run_until_idle() == 2
    async with sessions() as session:
        jobs = {job.kind: job for job in await session.scalars(select(Job))}
    assert {kind: job.status for kind, job in jobs.items()} == dict.fromkeys(
        OPERATIONS, JobStatus.succeeded
    )
    assert "trained" in (jobs[forecasting_tasks.TRAIN_MODELS].result or {})
    assert "deleted_rows" in (jobs[history_tasks.MAINTAIN_HISTORY].result or {})


async def test_one_trainer_at_a_time(sessions: SessionFactory, context: AppContext) -> None:
    async with unit_of_work(sessions) as session:
        assert await lease.try_acquire(
            session,
            name=forecasting_tasks.TRAINER_LEASE,
            holder="a slow run of the previous slot",
            now=utcnow(),
            ttl=timedelta(minutes=5),
        )
    worker = worker_for(context, tasks=task_registry().only(forecasting_tasks.TRAIN_MODELS))
    await worker.schedule_periodic()
    assert await worker.run_until_idle() == 1
    async with sessions() as session:
        job = await session.scalar(select(Job))
    assert job is not None
    assert job.result == {"skipped": "another worker is training"}
