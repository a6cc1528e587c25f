"""The `data.import` job: a queued import, validated and written in the job's one transaction.

What becomes of an attempt:

- The import cannot succeed as it is (bad rows, a damaged archive, a file over the limits, a
  row the database refuses): the attempt's writes are rolled back and the run records why,
  every bad row included, in the job's own transaction; the job is done (a retry would find
  the same).
- Anything else (the database went away, a bug): the attempt's writes are rolled back, the run
  goes back to `queued`, and the job is retried from the start; the last attempt records the
  failure. The run only says that an unexpected error happened: the exception may hold SQL
  and values of other rows, so it goes to the log, never to the page. A worker that dies
  mid-import simply never commits: its lease runs out and the next worker starts over on an
  untouched workspace.

The outcome is written in the import's transaction, so "succeeded" commits exactly when the
rows do; the upload's chunks are deleted in that same transaction, so they go exactly when the
outcome commits and stay for the next attempt when an attempt rolls back.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.dataport import service as dataport
from intuitivus_flow.dataport.exceptions import ImportRejected
from intuitivus_flow.dataport.imports.archive import ImportLimits, open_archive
from intuitivus_flow.dataport.imports.progress import Lease, RunProgress
from intuitivus_flow.dataport.imports.uploads import UploadStore
from intuitivus_flow.dataport.models import FINISHED, ImportStatus
from intuitivus_flow.dataport.repository import AbandonedImports, ImportRunRepository
from intuitivus_flow.dataport.schemas import ImportResult
from intuitivus_flow.events import catalog
from intuitivus_flow.events import service as events
from intuitivus_flow.jobs.context import JobContext
from intuitivus_flow.jobs.models import Job
from intuitivus_flow.jobs.registry import TaskList
from intuitivus_flow.jobs.worker import PermanentJobError
from intuitivus_flow.kit.db import SessionFactory
from intuitivus_flow.kit.errors import FlowError
from intuitivus_flow.kit.models import utcnow

REFUSED_BY_DATABASE = (
    "The database refused a row: it conflicts with data the workspace already has (for "
    "example a campaign report for a day the campaign already has). Nothing was imported."
)
VALUE_REFUSED_BY_DATABASE = (
    "The database refused a value of a row that passed validation. Nothing was imported."
)
UNEXPECTED = dataport.UNEXPECTED
logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ImportRuntime:
    sessions: SessionFactory  # for progress, beside the job's own session
    limits: ImportLimits
    lease: timedelta

    @classmethod
    def of(cls, job: JobContext) -> ImportRuntime:
        """The worker's sessions, import limits and job lease."""
        settings = job.settings
        return cls(
            sessions=job.sessions,
            limits=dataport.limits_from(settings),
            lease=timedelta(seconds=settings.worker_lease_seconds),
        )


PRUNE_JOB = "data.prune_abandoned_imports"
PRUNE_EVERY = timedelta(hours=6)
ABANDONED_AFTER = timedelta(hours=1)


TASKS = TaskList("dataport")


@TASKS.periodic(PRUNE_JOB, every=PRUNE_EVERY)
async def _prune(job: JobContext) -> dict[str, Any]:
    return {"chunks_deleted": await prune_abandoned(job.session, now=job.now())}


async def prune_abandoned(session: AsyncSession, *, now: datetime) -> int:
    """Fail the imports whose job will never run again and delete their uploads' chunks.

    The import's own transaction deletes its chunks when it records an outcome; this catches
    the rest (a job cancelled, or given up because its workers kept dying). The hour of grace
    only keeps the sweep clear of imports that are being queued right now.
    """
    return await AbandonedImports(session).settle(
        older_than=now - ABANDONED_AFTER,
        now=now,
        message="The import was abandoned: its job stopped before recording an outcome. "
        "Upload the export again.",
    )


@TASKS.task(dataport.IMPORT_JOB)
async def _run(job: JobContext) -> dict[str, Any]:
    return await run_import(job.session, job.job, runtime=ImportRuntime.of(job))


@dataclass(frozen=True, slots=True)
class Attempt:
    """What the handler needs of its job, read before a rollback can expire the job object."""

    job_id: uuid.UUID
    workspace_id: uuid.UUID
    run_id: uuid.UUID
    number: int
    max_attempts: int
    worker: str | None

    @property
    def is_last(self) -> bool:
        return self.number >= self.max_attempts

    @classmethod
    def of(cls, job: Job) -> Attempt:
        if job.workspace_id is None:
            raise PermanentJobError("import job without a workspace")
        try:
            run_id = uuid.UUID(str(job.payload["run_id"]))
        except (KeyError, ValueError):
            raise PermanentJobError("import job without a valid run id") from None
        return cls(job.id, job.workspace_id, run_id, job.attempts, job.max_attempts, job.locked_by)


@dataclass(frozen=True, slots=True)
class Failure:
    message: str
    errors: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0


async def run_import(session: AsyncSession, job: Job, *, runtime: ImportRuntime) -> dict[str, Any]:
    """Worker side: run the import of one run, or record why it cannot be imported."""
    attempt = Attempt.of(job)
    run = await ImportRunRepository(session, attempt.workspace_id).get(attempt.run_id)
    if run is None:
        raise PermanentJobError("the import run no longer exists")
    if run.status in FINISHED:
        return {"status": run.status}  # delivered again after its outcome committed
    requested_by = run.created_by_id
    progress = _progress(session, attempt, runtime)
    try:
        result = await _import(session, attempt, runtime, progress)
    except (FlowError, IntegrityError, DataError) as error:  # the same on every attempt
        await session.rollback()  # every row this attempt wrote
        failure = _failure(error, attempt)
    except Exception:
        await session.rollback()
        logger.exception(
            "import %s (job %s) attempt %d failed", attempt.run_id, attempt.job_id, attempt.number
        )
        if not attempt.is_last:
            await progress.interrupted(attempt.number, attempt.max_attempts, UNEXPECTED)
            raise  # the worker schedules the retry
        failure = Failure(
            f"The import stopped after {attempt.number} attempts ({UNEXPECTED}). "
            "Nothing was imported."
        )
    else:
        await _record_success(session, attempt, requested_by, progress, result)
        await UploadStore(session, attempt.workspace_id).remove(attempt.run_id)
        return {"status": ImportStatus.succeeded.value, "total": result.total}
    await _record_failure(session, attempt, requested_by, progress, failure)
    await UploadStore(session, attempt.workspace_id).remove(attempt.run_id)
    return {"status": ImportStatus.failed.value, "errors_total": failure.total}


def _progress(session: AsyncSession, attempt: Attempt, runtime: ImportRuntime) -> RunProgress:
    lease = Lease(attempt.job_id, attempt.worker, runtime.lease) if attempt.worker else None
    return RunProgress(
        runtime.sessions,
        attempt.workspace_id,
        attempt.run_id,
        lease=lease,
        writes_beside_import=session.get_bind().dialect.name != "sqlite",
    )


async def _import(
    session: AsyncSession, attempt: Attempt, runtime: ImportRuntime, progress: RunProgress
) -> ImportResult:
    with await UploadStore(session, attempt.workspace_id).open(attempt.run_id) as upload:
        archive = await open_archive(upload, runtime.limits)
        await progress.begin(archive.declared_counts())
        return await dataport.apply_import(
            session, archive, attempt.workspace_id, progress=progress
        )


def _failure(error: FlowError | IntegrityError | DataError, attempt: Attempt) -> Failure:
    if isinstance(error, ImportRejected):
        return Failure(error.detail, error.errors, error.total)
    if isinstance(error, FlowError):
        return Failure(error.detail)
    # The statement and its values stay in the log (other rows' data, the schema).
    logger.warning("import %s refused by the database: %s", attempt.run_id, error)
    if isinstance(error, IntegrityError):
        return Failure(REFUSED_BY_DATABASE)
    return Failure(VALUE_REFUSED_BY_DATABASE)


async def _record_success(
    session: AsyncSession,
    attempt: Attempt,
    requested_by: uuid.UUID | None,
    progress: RunProgress,
    result: ImportResult,
) -> None:
    await ImportRunRepository(session, attempt.workspace_id).report(
        attempt.run_id,
        status=ImportStatus.succeeded,
        progress=progress.completed(),
        created=result.created,
        skipped=result.skipped,
        message=None,
        finished_at=utcnow(),
    )
    await _record_event(
        session,
        attempt,
        requested_by,
        outcome=ImportStatus.succeeded.value,
        created=result.created,
        total=result.total,
    )


async def _record_failure(
    session: AsyncSession,
    attempt: Attempt,
    requested_by: uuid.UUID | None,
    progress: RunProgress,
    failure: Failure,
) -> None:
    await ImportRunRepository(session, attempt.workspace_id).report(
        attempt.run_id,
        status=ImportStatus.failed,
        progress=progress.snapshot(),
        errors=failure.errors,
        errors_total=failure.total,
        message=failure.message,
        finished_at=utcnow(),
    )
    await _record_event(
        session,
        attempt,
        requested_by,
        outcome=ImportStatus.failed.value,
        errors_total=failure.total,
    )


async def _record_event(
    session: AsyncSession,
    attempt: Attempt,
    requested_by: uuid.UUID | None,
    **properties: Any,
) -> None:
    await events.record(
        session,
        workspace_id=attempt.workspace_id,
        name=catalog.DATA_IMPORT_FINISHED,
        user_id=requested_by,
        properties={"run_id": str(attempt.run_id), **properties},
    )
