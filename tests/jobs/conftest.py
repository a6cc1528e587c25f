"""Workers need the app context they run jobs for; these tests build one on the test database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from intuitivus_flow.config import Settings
from intuitivus_flow.context import AppContext
from intuitivus_flow.jobs.registry import TaskList, TaskRegistry
from intuitivus_flow.jobs.worker import Worker
from intuitivus_flow.task_registry import worker_for
from tests.conftest import Database


@pytest.fixture
async def context(database: Database, data_root: Path) -> AsyncIterator[AppContext]:
    settings = Settings(env="test", data_dir=data_root, database_url=database.url, seed_demo=False)
    app_context = AppContext.build(settings)
    yield app_context
    await app_context.close()


def make_worker(context: AppContext, *, tasks: TaskList | None = None, **options: Any) -> Worker:
    """A worker of `context`'s app that runs only `tasks` (none given: no task at all)."""
    registry = TaskRegistry.of(tasks) if tasks is not None else TaskRegistry()
    return worker_for(context, tasks=registry, **options)
