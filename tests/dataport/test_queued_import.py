"""Queued imports (`POST /api/data/imports`): the upload stored in the database, job,
progress, outcome, retries and tenant isolation, on both engines, with the worker driven by
the test."""

from __future__ import annotations

import io
import uuid
import zipfile
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from tests.dataport.support import (
    SEEDED,
    forget_numbers,
    jsonl,
    jsonl_rows,
    make_zip,
    normal_form,
    owner,
    read_zip,
    seed,
)
from tests.dataport.test_import import count, export, small_archive
from tests.helpers import assert_problem, invite_and_join

from intuitivus_flow.agents.models import Agent
from intuitivus_flow.dataport import service as dataport_service
from intuitivus_flow.dataport.exceptions import UploadGone
from intuitivus_flow.dataport.imports import uploads
from intuitivus_flow.dataport.imports.uploads import UploadStore
from intuitivus_flow.dataport.models import ImportRun, ImportUploadChunk
from intuitivus_flow.dataport.repository import PortableRows
from intuitivus_flow.events.models import Event
from intuitivus_flow.jobs.models import Job
from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.kit.errors import Conflict
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.task_registry import worker_for

pytestmark = pytest.mark.slow

BAD = make_zip(
    {
        "agents.jsonl": jsonl({"name": "ok"}, {"status": "sleeping"}),
        "agent_tasks.jsonl": jsonl({"agent_id": str(uuid.uuid4()), "prompt": "orphan"}),
    }
)


async def queue(client: httpx.AsyncClient, headers: dict[str, str], data: bytes) -> httpx.Response:
    return await client.post(
        "/api/data/imports",
        files={"file": ("export.zip", data, "application/zip")},
        headers=headers,
    )


async def status(client: httpx.AsyncClient, headers: dict[str, str], run_id: str) -> Any:
    response = await client.get(f"/api/data/imports/{run_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def run_worker(app: Any, name: str = "test-worker") -> int:
    return await worker_for(app.state.context, name=name).run_until_idle()


async def job_of(app: Any, run_id: str) -> Job:
    async with app.state.context.sessions() as session:
        run = await session.get(ImportRun, uuid.UUID(run_id))
        assert run is not None
        assert run.job_id is not None
        job = await session.get(Job, run.job_id)
        assert job is not None
        return job


async def make_ready(app: Any) -> None:
    """Time passes: retries are due and leases of dead workers have run out."""
    past = utcnow() - timedelta(seconds=1)
    async with unit_of_work(app.state.context.sessions) as session:
        await session.execute(update(Job).values(run_at=past))
        await session.execute(
            update(Job).where(Job.locked_until.is_not(None)).values(locked_until=past)
        )


def large_archive(tasks: int = 90) -> bytes:
    """A valid export over 2 MiB: stored, not deflated, so its size is what it holds."""
    agent = str(uuid.uuid4())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("agents.jsonl", jsonl({"id": agent, "name": "Writer"}))
        archive.writestr(
            "agent_tasks.jsonl",
            jsonl(*({"agent_id": agent, "prompt": f"{n} " + "x" * 30_000} for n in range(tasks))),
        )
    return buffer.getvalue()


async def chunk_rows(session: AsyncSession, run_id: str | None = None) -> int:
    statement = select(func.count()).select_from(ImportUploadChunk)
    if run_id is not None:
        statement = statement.where(ImportUploadChunk.run_id == uuid.UUID(run_id))
    return int(await session.scalar(statement) or 0)


async def stored_chunks(app: Any, run_id: str) -> int:
    async with app.state.context.sessions() as session:
        return await chunk_rows(session, run_id)


async def event_names(app: Any, workspace_id: uuid.UUID) -> list[str]:
    async with app.state.context.sessions() as session:
        names = await session.scalars(
            select(Event.name)
            .where(Event.workspace_id == workspace_id, Event.name.like("data.%"))
            .order_by(Event.occurred_at)
        )
        return list(names.all())


class TestQueuedImport:
    async def test_upload_then_the_worker_imports_it(
        self, app: Any, client: httpx.AsyncClient
    ) -> None:
        acme = await owner(client)
        response = await queue(client, acme.headers, small_archive())
        assert response.status_code == 202, response.text
        run = response.json()
        assert (run["status"], run["attempts"], run["max_attempts"]) == ("queued", 0, 3)
        assert run["file_name"] == "export.zip"
        assert await stored_chunks(app, run["id"]) == 1  # a small upload is one chunk
        assert (await status(client, acme.headers, run["id"]))["status"] == "queued"
        assert await count(app, Agent, acme.workspace_id) == 0  # nothing before the worker
        assert await run_worker(app) == 1
        done = await status(client, acme.headers, run["id"])
        assert done["status"] == "succeeded"
        assert done["created"] == {"agents": 2, "agent_tasks": 2}
        assert done["total_created"] == 4
        assert (done["rows_done"], done["rows_total"]) == (4, 4)
        assert [(e["entity"], e["total"], e["written"]) for e in done["entities"]] == [
            ("agents", 2, 2),
            ("agent_tasks", 2, 2),
        ]
        assert done["errors"] == []
        assert done["message"] is None
        assert done["started_at"] is not None
        assert done["finished_at"] is not None
        assert await count(app, Agent, acme.workspace_id) == 2
        assert await stored_chunks(app, run["id"]) == 0  # deleted with the outcome
        assert await event_names(app, acme.workspace_id) == [
            "data.import_requested",
            "data.import_finished",
        ]
        listed = await client.get("/api/data/imports", headers=acme.headers)
        assert [item["id"] for item in listed.json()] == [run["id"]]

    async def test_a_whole_workspace_round_trips_through_the_queue(
        self, app: Any, client: httpx.AsyncClient
    ) -> None:
        acme = await owner(client, "Acme")
        sessions = app.state.context.sessions
        await seed(sessions, acme.workspace_id)
        archive = await export(client, acme.headers)
        await forget_numbers(sessions, acme.workspace_id)  # as on another instance
        empty = await owner(client, "Empty")
        own = frozenset(
            row["id"] for row in jsonl_rows(read_zip(await export(client, empty.headers)), "events")
        )
        run = (await queue(client, empty.headers, archive)).json()
        await run_worker(app)
        done = await status(client, empty.headers, run["id"])
        assert done["status"] == "succeeded", done
        assert done["created"] == {**SEEDED, "events": done["created"]["events"]}
        assert list(done["created"])[:3] == ["agents", "agent_tasks", "crew_runs"]  # parents first
        again = read_zip(await export(client, empty.headers))
        assert normal_form(again, ignore_ids=own) == normal_form(read_zip(archive))

    async def test_bad_rows_fail_the_import_write_nothing_and_are_listed(
        self, app: Any, client: httpx.AsyncClient
    ) -> None:
        acme = await owner(client)
        run = (await queue(client, acme.headers, BAD)).json()
        await run_worker(app)
        failed = await status(client, acme.headers, run["id"])
        assert failed["status"] == "failed"
        assert "nothing was imported" in failed["message"]
        assert {(e["file"], e["line"], e["field"]) for e in failed["errors"]} == {
            ("agents.jsonl", 2, "name"),
            ("agents.jsonl", 2, "status"),
            ("agent_tasks.jsonl", 1, "agent_id"),
        }
        assert failed["errors_total"] == 3
        assert failed["created"] == {}
        assert await count(app, Agent, acme.workspace_id) == 0
        # Bad rows are the import's outcome, not a crash: the job is done, never retried.
        job = await job_of(app, run["id"])
        assert (job.status, job.attempts) == ("succeeded", 1)
        assert await stored_chunks(app, run["id"]) == 0
        assert await event_names(app, acme.workspace_id) == [
            "data.import_requested",
            "data.import_finished",
        ]

    async def test_a_broken_archive_is_refused_at_once(
        self, app: Any, client: httpx.AsyncClient
    ) -> None:
        acme = await owner(client)
        body = assert_problem(await queue(client, acme.headers, b"not a zip"), 422)
        assert "not a zip" in body["errors"][0]["message"]
        assert await count(app, ImportRun, acme.workspace_id) == 0
        assert await event_names(app, acme.workspace_id) == []

    async def test_a_failed_request_leaves_no_upload_behind(
        self, app: Any, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        acme = await owner(client)
        stored: list[int] = []

        async def queue_is_down(session: AsyncSession, **kwargs: Any) -> Job:
            stored.append(await chunk_rows(session))  # saved in the request's transaction
            raise Conflict("the queue refused the job")

        monkeypatch.setattr(dataport_service.jobs, "enqueue", queue_is_down)
        assert_problem(await queue(client, acme.headers, large_archive()), 409)
        assert stored[0] >= 3
        async with app.state.context.sessions() as session:
            assert await chunk_rows(session) == 0  # rolled back with the request
        assert await count(app, ImportRun, acme.workspace_id) == 0

    async def test_members_cannot_queue_or_read(self, client: httpx.AsyncClient) -> None:
        acme = await owner(client)
        run = (await queue(client, acme.headers, small_archive())).json()
        member = await invite_and_join(client, acme.account)
        assert_problem(await queue(client, member.headers, small_archive()), 403)
        response = await client.get(f"/api/data/imports/{run['id']}", headers=member.headers)
        assert_problem(response, 403)


class TestUploadInTheDatabase:
    async def test_a_large_upload_is_stored_in_chunks_and_imported(
        self, app: Any, client: httpx.AsyncClient
    ) -> None:
        acme = await owner(client)
        archive = large_archive()
        assert len(archive) > 2 * uploads.CHUNK_BYTES
        run = (await queue(client, acme.headers, archive)).json()
        assert run["size_bytes"] == len(archive)
        async with app.state.context.sessions() as session:
            sizes = await session.scalars(
                select(func.length(ImportUploadChunk.data))
                .where(ImportUploadChunk.run_id == uuid.UUID(run["id"]))
                .order_by(ImportUploadChunk.seq)
            )
            *full, last = sizes.all()
        assert len(full) >= 2
        assert set(full) == {uploads.CHUNK_BYTES}
        assert sum(full) + last == len(archive)
        await run_worker(app)
        done = await status(client, acme.headers, run["id"])
        assert done["status"] == "succeeded", done["message"]
        assert done["created"] == {"agents": 1, "agent_tasks": 90}
        assert await stored_chunks(app, run["id"]) == 0

    async def test_reading_back_streams_chunk_by_chunk_into_a_spooled_file(
        self, app: Any, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        acme = await owner(client)
        archive = large_archive()
        run = (await queue(client, acme.headers, archive)).json()
        run_id = uuid.UUID(run["id"])
        monkeypatch.setattr(uploads, "SPOOL_BYTES", uploads.CHUNK_BYTES)
        async with app.state.context.sessions() as session:
            store = UploadStore(session, acme.workspace_id)
            pieces = [len(chunk) async for chunk in store.chunks(run_id)]
            assert len(pieces) >= 3
            assert max(pieces) == uploads.CHUNK_BYTES  # never more than one chunk at once
            with await store.open(run_id) as upload:
                assert upload._rolled  # spooled to disk, not held in memory
                assert upload.read() == archive

    async def test_another_workspace_cannot_read_or_remove_the_upload(
        self, app: Any, client: httpx.AsyncClient
    ) -> None:
        acme = await owner(client, "Acme")
        beta = await owner(client, "Beta")
        run_id = uuid.UUID((await queue(client, acme.headers, small_archive())).json()["id"])
        async with unit_of_work(app.state.context.sessions) as session:
            foreign = UploadStore(session, beta.workspace_id)
            with pytest.raises(UploadGone):
                await foreign.open(run_id)
            await foreign.remove(run_id)
        assert await stored_chunks(app, str(run_id)) == 1

    async def test_a_missing_upload_fails_the_import_as_gone(
        self, app: Any, client: httpx.AsyncClient
    ) -> None:
        acme = await owner(client)
        run = (await queue(client, acme.headers, small_archive())).json()
        async with unit_of_work(app.state.context.sessions) as session:
            await UploadStore(session, acme.workspace_id).remove(uuid.UUID(run["id"]))
        await run_worker(app)
        failed = await status(client, acme.headers, run["id"])
        assert failed["status"] == "failed"
        assert failed["message"] == uploads.GONE
        assert await count(app, Agent, acme.workspace_id) == 0


class TestProgress:
    async def test_progress_is_visible_while_the_rows_are_not(
        self, app: Any, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """While the import's transaction is open, another session sees the run importing
        with the totals validation found, and none of the rows being written."""
        acme = await owner(client)
        run = (await queue(client, acme.headers, small_archive())).json()
        seen: list[tuple[str, Any, int]] = []
        insert = PortableRows.insert

        async def watched(rows: PortableRows, batch: Any) -> None:
            await insert(rows, batch)
            if rows.spec.name == "agents":
                async with app.state.context.sessions() as outside:
                    found = await outside.get(ImportRun, uuid.UUID(run["id"]))
                    assert found is not None
                    agents = await outside.scalar(
                        select(func.count())
                        .select_from(Agent)
                        .where(Agent.workspace_id == acme.workspace_id)
                    )
                    seen.append((found.status, found.progress, int(agents or 0)))

        monkeypatch.setattr(PortableRows, "insert", watched)
        await run_worker(app)
        (at_write,) = seen
        status_then, progress_then, agents_then = at_write
        assert status_then == "importing"
        assert progress_then["phase"] == "write"
        totals = {e["entity"]: (e["total"], e["validated"]) for e in progress_then["entities"]}
        assert totals == {"agents": (2, 2), "agent_tasks": (2, 2)}
        assert agents_then == 0  # all or nothing: the rows appear at the commit
        assert (await status(client, acme.headers, run["id"]))["status"] == "succeeded"


class TestInterruptions:
    async def test_a_crash_mid_import_leaves_nothing_and_the_job_retries(
        self, app: Any, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The handler dies after some rows were written: they are rolled back, the run waits
        again, and the next attempt imports everything once."""
        acme = await owner(client)
        run = (await queue(client, acme.headers, small_archive())).json()
        insert = PortableRows.insert

        async def crash_after_agents(rows: PortableRows, batch: Any) -> None:
            await insert(rows, batch)
            if rows.spec.name == "agent_tasks":
                raise ConnectionResetError("the worker lost its database")

        monkeypatch.setattr(PortableRows, "insert", crash_after_agents)
        await run_worker(app)
        waiting = await status(client, acme.headers, run["id"])
        assert waiting["status"] == "queued"
        assert waiting["attempts"] == 1
        assert "Attempt 1 of 3 was interrupted" in waiting["message"]
        assert "unexpected error" in waiting["message"]
        assert "ConnectionResetError" not in waiting["message"]  # exceptions are for the logs
        assert await count(app, Agent, acme.workspace_id) == 0  # the agents were rolled back
        assert await stored_chunks(app, run["id"]) == 1  # kept for the retry
        monkeypatch.setattr(PortableRows, "insert", insert)
        await make_ready(app)
        assert await run_worker(app) == 1
        done = await status(client, acme.headers, run["id"])
        assert (done["status"], done["attempts"], done["message"]) == ("succeeded", 2, None)
        assert await count(app, Agent, acme.workspace_id) == 2
        assert await stored_chunks(app, run["id"]) == 0

    async def test_a_dead_workers_import_runs_again_after_its_lease(
        self, app: Any, client: httpx.AsyncClient
    ) -> None:
        acme = await owner(client)
        run = (await queue(client, acme.headers, small_archive())).json()
        dead = worker_for(app.state.context, name="dead", lease=timedelta(seconds=30))
        assert await dead._claim() is not None  # claimed, then the process died
        survivor = worker_for(app.state.context, name="survivor")
        assert await survivor.run_until_idle() == 0  # the lease still protects it
        await make_ready(app)
        assert await survivor.run_until_idle() == 1
        done = await status(client, acme.headers, run["id"])
        assert (done["status"], done["attempts"]) == ("succeeded", 2)
        assert await count(app, Agent, acme.workspace_id) == 2

    async def test_a_second_delivery_after_the_outcome_changes_nothing(
        self, app: Any, client: httpx.AsyncClient
    ) -> None:
        acme = await owner(client)
        run = (await queue(client, acme.headers, small_archive())).json()
        await run_worker(app)
        async with unit_of_work(app.state.context.sessions) as session:  # at least once
            await session.execute(update(Job).values(status="queued"))
        await make_ready(app)
        assert await run_worker(app) == 1
        assert (await status(client, acme.headers, run["id"]))["status"] == "succeeded"
        assert await count(app, Agent, acme.workspace_id) == 2

    async def test_the_last_attempt_records_the_failure(
        self, app: Any, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        acme = await owner(client)
        run = (await queue(client, acme.headers, small_archive())).json()
        async with unit_of_work(app.state.context.sessions) as session:
            await session.execute(update(Job).values(max_attempts=1))

        async def always_crash(rows: PortableRows, batch: Any) -> None:
            raise ConnectionResetError("the database went away")

        monkeypatch.setattr(PortableRows, "insert", always_crash)
        await run_worker(app)
        failed = await status(client, acme.headers, run["id"])
        assert failed["status"] == "failed"
        assert "stopped after 1 attempts" in failed["message"]
        assert "Nothing was imported" in failed["message"]
        assert await count(app, Agent, acme.workspace_id) == 0
        assert await stored_chunks(app, run["id"]) == 0

    async def test_a_job_that_gave_up_shows_the_import_failed(
        self, app: Any, client: httpx.AsyncClient
    ) -> None:
        """If the worker could not even record the outcome, the run still says failed."""
        acme = await owner(client)
        run = (await queue(client, acme.headers, small_archive())).json()
        async with unit_of_work(app.state.context.sessions) as session:
            await session.execute(
                update(Job).values(status="failed", last_error="OperationalError: gone")
            )
        failed = await status(client, acme.headers, run["id"])
        assert failed["status"] == "failed"
        assert "unexpected error" in failed["message"]
        assert "OperationalError" not in failed["message"]  # exceptions are for the logs


class TestTenancy:
    async def test_another_workspaces_run_is_not_found(
        self, app: Any, client: httpx.AsyncClient
    ) -> None:
        acme = await owner(client, "Acme")
        beta = await owner(client, "Beta")
        run = (await queue(client, acme.headers, small_archive())).json()
        response = await client.get(f"/api/data/imports/{run['id']}", headers=beta.headers)
        assert_problem(response, 404)
        assert (await client.get("/api/data/imports", headers=beta.headers)).json() == []
        await run_worker(app)
        assert await count(app, Agent, acme.workspace_id) == 2
        assert await count(app, Agent, beta.workspace_id) == 0


class TestAbandonedImports:
    async def test_an_import_whose_job_gave_up_is_failed_and_its_upload_deleted(
        self, app: Any, client: httpx.AsyncClient
    ) -> None:
        from intuitivus_flow.dataport.tasks import prune_abandoned

        acme = await owner(client)
        abandoned = (await queue(client, acme.headers, small_archive())).json()["id"]
        waiting = (await queue(client, acme.headers, small_archive())).json()["id"]
        dead_job = (await job_of(app, abandoned)).id
        two_hours_ago = utcnow() - timedelta(hours=2)
        async with unit_of_work(app.state.context.sessions) as session:
            # Its workers kept dying until the queue gave up; both runs are old.
            await session.execute(update(Job).where(Job.id == dead_job).values(status="failed"))
            await session.execute(update(ImportRun).values(created_at=two_hours_ago))

        async with unit_of_work(app.state.context.sessions) as session:
            assert await prune_abandoned(session, now=utcnow()) == 1
        assert await stored_chunks(app, abandoned) == 0
        gone = await status(client, acme.headers, abandoned)
        assert gone["status"] == "failed"
        assert "abandoned" in gone["message"]
        # A run whose job is still queued is live, however old: untouched.
        assert await stored_chunks(app, waiting) == 1
        assert (await status(client, acme.headers, waiting))["status"] == "queued"

    async def test_a_fresh_import_is_left_alone_whatever_its_job(
        self, app: Any, client: httpx.AsyncClient
    ) -> None:
        from intuitivus_flow.dataport.tasks import prune_abandoned

        acme = await owner(client)
        run = (await queue(client, acme.headers, small_archive())).json()["id"]
        async with unit_of_work(app.state.context.sessions) as session:
            await session.execute(update(Job).values(status="cancelled"))
        async with unit_of_work(app.state.context.sessions) as session:
            assert await prune_abandoned(session, now=utcnow()) == 0
        assert await stored_chunks(app, run) == 1
