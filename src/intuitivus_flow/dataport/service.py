"""Data export and import of a workspace: who may, what is recorded, and the two passes.

Exports are authorised and recorded inside the caller's unit of work (`plan_export`); the
bytes are streamed afterwards from a read-only session of their own (`stream_export`),
because a response body is sent after the request's transaction has ended. Imports run
entirely in one transaction: validation, then all the writes, or nothing. That transaction is
the caller's (`import_archive`: the API's synchronous import, the CLI) or a job's
(`request_import` stores the upload and queues `data.import`; dataport/tasks.py runs it).
"""

from __future__ import annotations

import io
import posixpath
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import IO, Any

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.agents import service as agents
from intuitivus_flow.billing import service as billing
from intuitivus_flow.billing.plans import Limit
from intuitivus_flow.config import Settings
from intuitivus_flow.dataport.exports import service as exporter
from intuitivus_flow.dataport.exports.service import ExportPlan, Progress
from intuitivus_flow.dataport.imports import service as importer
from intuitivus_flow.dataport.imports.archive import Archive, ImportLimits, open_archive
from intuitivus_flow.dataport.imports.service import ImportProgress
from intuitivus_flow.dataport.imports.uploads import UploadStore
from intuitivus_flow.dataport.models import FINISHED, ImportRun, ImportStatus
from intuitivus_flow.dataport.registry import BY_NAME, ENTITIES
from intuitivus_flow.dataport.repository import ImportRunRepository
from intuitivus_flow.dataport.schemas import (
    EntityProgress,
    ExportFormat,
    ImportProblem,
    ImportResult,
    ImportRunRead,
)
from intuitivus_flow.events import catalog
from intuitivus_flow.events import service as events
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.roles import Role
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.jobs import service as jobs
from intuitivus_flow.jobs.models import Job, JobStatus
from intuitivus_flow.jobs.repository import WorkspaceJobRepository
from intuitivus_flow.kit.db import SessionFactory
from intuitivus_flow.kit.errors import InvalidInput
from intuitivus_flow.workspaces.repository import WorkspaceRepository


def limits_from(settings: Settings) -> ImportLimits:
    return ImportLimits(
        max_bytes=settings.import_max_bytes,
        max_uncompressed_bytes=settings.import_max_uncompressed_bytes,
        max_rows_per_file=settings.import_max_rows_per_file,
    )


def _authorise(principal: Principal, scope: Scope) -> None:
    # The scope is never given to members; the role check also covers keys of demoted admins.
    principal.require_scope(scope)
    principal.require_role(Role.admin)


async def plan_export(
    session: AsyncSession,
    principal: Principal,
    *,
    export_format: ExportFormat,
    entity: str | None = None,
) -> ExportPlan:
    """Authorise an export of the caller's workspace (all entities, or one) and record it."""
    _authorise(principal, Scope.data_export)
    if entity is None:
        entities = ENTITIES
    elif entity in BY_NAME:
        entities = (BY_NAME[entity],)
    else:
        raise InvalidInput(f"Unknown entity; use one of {', '.join(BY_NAME)}", field="entity")
    plan = exporter.new_plan(principal.workspace_id, export_format, entities)
    await events.record(
        session,
        workspace_id=principal.workspace_id,
        name=catalog.DATA_EXPORTED,
        user_id=principal.user_id,
        properties={"format": export_format.value, "entity": entity or "all"},
    )
    return plan


def stream_export(
    sessions: SessionFactory,
    plan: ExportPlan,
    *,
    page_rows: int,
    progress: Progress | None = None,
) -> AsyncIterator[bytes]:
    """The bytes of an authorised export, read page by page from a snapshot."""
    return exporter.stream(sessions, plan, page_rows=page_rows, progress=progress)


async def import_archive(
    session: AsyncSession,
    principal: Principal,
    *,
    upload: IO[bytes],
    limits: ImportLimits,
    dry_run: bool = False,
    progress: ImportProgress | None = None,
) -> ImportResult:
    """Validate the whole archive (422 listing every bad row), then, unless `dry_run`, add
    every row to the caller's workspace under new ids. Never commits: the caller's unit of
    work makes the writes all or nothing."""
    _authorise(principal, Scope.data_import)
    archive = await open_archive(upload, limits)
    result = await apply_import(
        session, archive, principal.workspace_id, dry_run=dry_run, progress=progress
    )
    if not dry_run:
        await events.record(
            session,
            workspace_id=principal.workspace_id,
            name=catalog.DATA_IMPORTED,
            user_id=principal.user_id,
            properties={"created": result.created, "total": result.total},
        )
    return result


async def apply_import(
    session: AsyncSession,
    archive: Archive,
    workspace_id: uuid.UUID,
    *,
    dry_run: bool = False,
    progress: ImportProgress | None = None,
) -> ImportResult:
    """The two passes over an archive, in the caller's transaction (already authorised)."""
    validation = importer.Validation(session, archive, workspace_id, progress)
    counts = await validation.run()
    if not dry_run:
        await importer.write(
            session, archive, workspace_id, taken=validation.taken, progress=progress
        )
        # Validation counted without a lock; parallel imports and agent creations may have
        # counted the same agents, so the plan is checked again, under its lock, at the end.
        await billing.check_added(
            session,
            workspace_id,
            Limit.agents,
            added=counts.get("agents", 0),
            count=agents.count_agents,
        )
    return ImportResult(
        dry_run=dry_run, created=counts, skipped=validation.skipped, total=sum(counts.values())
    )


# --- queued imports (web page, `POST /api/data/imports`) -------------------------------------

IMPORT_JOB = "data.import"
# A retry starts the import over (nothing of a failed attempt is kept); bad rows never retry.
IMPORT_ATTEMPTS = 3


async def request_import(
    session: AsyncSession,
    principal: Principal,
    *,
    upload: IO[bytes],
    file_name: str,
    limits: ImportLimits,
) -> ImportRunRead:
    """Queue an import: the archive's shape and size are checked now (not a zip, too large:
    answered at once); the run, its upload (dataport/imports/uploads.py) and the job are written in
    the caller's transaction, so all three exist exactly together. Rows are validated by the
    job."""
    _authorise(principal, Scope.data_import)
    await open_archive(upload, limits)
    size = upload.seek(0, io.SEEK_END)
    run = await ImportRunRepository(session, principal.workspace_id).add(
        ImportRun(
            created_by_id=principal.user_id,
            file_name=_shown_name(file_name),
            size_bytes=size,
        )
    )
    await UploadStore(session, principal.workspace_id).save(run.id, upload)
    job = await jobs.enqueue(
        session,
        kind=IMPORT_JOB,
        payload={"run_id": str(run.id)},
        workspace_id=principal.workspace_id,
        dedupe_key=f"data-import:{run.id}",
        max_attempts=IMPORT_ATTEMPTS,
    )
    run.job_id = job.id
    await events.record(
        session,
        workspace_id=principal.workspace_id,
        name=catalog.DATA_IMPORT_REQUESTED,
        user_id=principal.user_id,
        properties={"run_id": str(run.id), "bytes": size},
    )
    return run_view(run, job)


async def get_import(
    session: AsyncSession, principal: Principal, run_id: uuid.UUID
) -> ImportRunRead:
    """One import of the caller's workspace (another workspace's is 404, like any id)."""
    _authorise(principal, Scope.data_import)
    run = await ImportRunRepository(session, principal.workspace_id).get_or_raise(run_id)
    jobs_of = await _jobs(session, principal.workspace_id, [run])
    return run_view(run, jobs_of.get(run.job_id))


async def recent_imports(
    session: AsyncSession, principal: Principal, *, limit: int
) -> list[ImportRunRead]:
    """The workspace's latest queued imports, newest first."""
    _authorise(principal, Scope.data_import)
    repository = ImportRunRepository(session, principal.workspace_id)
    runs = await repository.all(repository.newest_first().limit(limit))
    jobs_of = await _jobs(session, principal.workspace_id, runs)
    return [run_view(run, jobs_of.get(run.job_id)) for run in runs]


async def _jobs(
    session: AsyncSession, workspace_id: uuid.UUID, runs: Sequence[ImportRun]
) -> dict[uuid.UUID | None, Job]:
    ids = [run.job_id for run in runs if run.job_id is not None]
    if not ids:
        return {}
    repository = WorkspaceJobRepository(session, workspace_id)
    found = await repository.all(repository.scoped().where(Job.id.in_(ids)))
    return {job.id: job for job in found}


# A job in one of these states will not run the import again.
_JOB_ENDED = frozenset({JobStatus.failed, JobStatus.cancelled})
UNEXPECTED = "an unexpected error; it was logged for the operators"


def run_view(run: ImportRun, job: Job | None) -> ImportRunRead:
    """The run as the status page and the API show it.

    The run row is the truth, except when its job ended without the import recording an
    outcome (the worker gave up after repeated crashes, or the job was cancelled): then the
    import failed, and nothing of it was written (each attempt rolled back). The job's last
    error is not shown: it is an exception's text (SQL, other rows' values), for the logs."""
    status, message = run.status, run.message
    if status not in FINISHED and job is not None and job.status in _JOB_ENDED:
        status = ImportStatus.failed
        reason = "it was cancelled" if job.status == JobStatus.cancelled else UNEXPECTED
        message = f"The import stopped before it finished ({reason}). Nothing was imported."
    progress: dict[str, Any] = run.progress or {}
    entities = [EntityProgress.model_validate(item) for item in progress.get("entities", [])]
    writing = progress.get("phase") == "write"
    created = _in_entity_order(run.created)
    return ImportRunRead(
        id=run.id,
        status=status,
        file_name=run.file_name,
        size_bytes=run.size_bytes,
        attempts=job.attempts if job else 0,
        max_attempts=job.max_attempts if job else IMPORT_ATTEMPTS,
        rows_total=_known_total(entities),
        rows_done=sum(e.written if writing else e.validated for e in entities),
        entities=entities,
        created=created,
        skipped=_in_entity_order(run.skipped),
        total_created=sum(created.values()),
        errors=[ImportProblem.model_validate(problem) for problem in run.errors],
        errors_total=run.errors_total,
        message=message,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
    )


def _known_total(entities: Sequence[EntityProgress]) -> int | None:
    # Unknown until every file's count is (from the manifest, then from validation).
    totals = [entity.total for entity in entities]
    if not totals or None in totals:
        return None
    return sum(total for total in totals if total is not None)


def _in_entity_order(counts: Mapping[str, Any]) -> dict[str, int]:
    # Stored as JSON (PostgreSQL's JSONB reorders keys): parents first again.
    return {name: int(counts[name]) for name in BY_NAME if name in counts}


def _shown_name(file_name: str) -> str:
    # Only the last path part (browsers may send one) and what the column holds.
    return posixpath.basename(file_name.replace("\\", "/"))[:255]


async def operator_principal(session: AsyncSession, workspace_id: uuid.UUID) -> Principal:
    """The CLI acts with shell access to the database: the system, as an owner of the named
    workspace (what it records names no user)."""
    await WorkspaceRepository(session, workspace_id).current()  # 404 for an unknown id
    return Principal.system(workspace_id, scopes=Scope, role=Role.owner)
