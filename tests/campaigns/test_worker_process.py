"""A real `python -m intuitivus_flow worker` killed with SIGKILL in the middle of a campaign
step, then a new worker: every contact gets every step exactly once (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from intuitivus_flow.campaigns.automation.service import ENROLL, QUEUE, RUN_STEP
from intuitivus_flow.campaigns.models import Campaign, CampaignStep, CampaignStepDelivery
from intuitivus_flow.config import Settings
from intuitivus_flow.jobs import service as jobs
from intuitivus_flow.jobs.models import Job
from intuitivus_flow.kit import migrations
from intuitivus_flow.kit.db import (
    SessionFactory,
    create_engine,
    create_session_factory,
    unit_of_work,
)
from intuitivus_flow.workspaces.models import Workspace
from tests.conftest import PG_HOST, PG_PORT, PG_USER, _admin, _create_postgres_database

ROOT = Path(__file__).resolve().parents[2]
CONTACTS = 5
LEASE_SECONDS = "2"


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database of its own: the worker processes connect to it by URL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'worker.db'}"
        return
    name = await _create_postgres_database()
    yield f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def prepare(sessions: SessionFactory, audience: list[uuid.UUID]) -> None:
    async with unit_of_work(sessions) as session:
        workspace = Workspace(name="Kill test")
        session.add(workspace)
        await session.flush()
        campaign = Campaign(
            workspace_id=workspace.id,
            name="Crash-proof",
            platform="whatsapp",
            currency="USD",
            status="active",
        )
        session.add(campaign)
        await session.flush()
        for position, template in enumerate(("welcome", "offer"), start=1):
            session.add(
                CampaignStep(
                    workspace_id=workspace.id,
                    campaign_id=campaign.id,
                    position=position,
                    kind="send_template",
                    config={"template": template, "language": "en", "parameters": []},
                )
            )
        await jobs.enqueue(
            session,
            kind=ENROLL,
            payload={"campaign_id": str(campaign.id)},
            workspace_id=workspace.id,
            queue=QUEUE,
        )


def start_worker(
    url: str, data_dir: Path, log: Path, *, block_seconds: int
) -> subprocess.Popen[bytes]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLOW_")}
    env.update(
        {
            "FLOW_ENV": "test",
            "FLOW_DATA_DIR": str(data_dir),
            "FLOW_DATABASE_URL": url,
            "FLOW_WORKER_LEASE_SECONDS": LEASE_SECONDS,
            "FLOW_CAMPAIGN_SENDER": "tests.campaigns.process_sender:build",
            "FLOW_TEST_CAMPAIGN_DIR": str(data_dir),
            "FLOW_TEST_SEND_BLOCK_SECONDS": str(block_seconds),
        }
    )
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "intuitivus_flow",
                "worker",
                "--queues",
                QUEUE,
                "--concurrency",
                "1",
            ],
            cwd=ROOT,  # `tests.campaigns.process_sender` is importable from here
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for(condition: Any, what: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}; worker log:\n{log.read_text()}")


async def step_jobs(sessions: SessionFactory) -> list[Job]:
    async with sessions() as session:
        return list((await session.scalars(select(Job).where(Job.kind == RUN_STEP))).all())


async def test_a_worker_killed_mid_step_is_taken_over_without_duplicates(
    database_url: str, tmp_path: Path
) -> None:
    settings = Settings(env="test", data_dir=tmp_path, database_url=database_url)
    engine = create_engine(settings)
    await migrations.upgrade(engine)
    sessions = create_session_factory(engine)
    audience = [uuid.uuid4() for _ in range(CONTACTS)]
    (tmp_path / "segment.json").write_text(json.dumps([str(c) for c in audience]))
    await prepare(sessions, audience)
    log = tmp_path / "workers.log"
    attempts, delivered = tmp_path / "attempts.jsonl", tmp_path / "delivered.jsonl"

    doomed = start_worker(database_url, tmp_path, log, block_seconds=120)
    try:
        wait_for(lambda: len(lines(attempts)) == 1, "the first send to block", log)
    finally:
        doomed.send_signal(signal.SIGKILL)  # no cleanup, no rollback sent by the process
        doomed.wait(timeout=10)
    (victim,) = lines(attempts)
    assert lines(delivered) == []  # it died before the provider got the message

    survivor = start_worker(database_url, tmp_path, log, block_seconds=0)
    try:
        expected = CONTACTS * 2
        wait_for(lambda: len(lines(delivered)) == expected, "every step delivered", log)

        async def all_done() -> bool:
            found = await step_jobs(sessions)
            return len(found) == expected and all(j.status == "succeeded" for j in found)

        deadline = time.monotonic() + 30
        while not await all_done():
            assert time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.2)
    finally:
        survivor.terminate()
        survivor.wait(timeout=20)

    sent = lines(delivered)
    assert sorted(item["key"] for item in sent) == sorted({item["key"] for item in sent})
    for contact in audience:
        assert sum(1 for item in sent if item["contact"] == str(contact)) == 2
    tries = lines(attempts)
    assert [t["key"] for t in tries].count(victim["key"]) == 2  # run again after the kill
    assert len(tries) == expected + 1
    async with sessions() as session:
        rows = (await session.scalars(select(CampaignStepDelivery))).all()
        assert len(rows) == expected
        assert {row.status for row in rows} == {"sent"}
        retaken = await session.scalar(select(Job).where(Job.dedupe_key == victim["key"]))
    assert retaken is not None
    assert (retaken.status, retaken.attempts) == ("succeeded", 2)
    await engine.dispose()
