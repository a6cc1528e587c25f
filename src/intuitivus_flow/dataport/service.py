"""Data export and import of a workspace: who may, what is recorded, and the two passes.

Exports are authorised and recorded inside the caller's unit of work (`plan_export`); the
bytes are streamed afterwards from a read-only session of their own (`stream_export`),
because a response body is sent after the request's transaction has ended. Imports run
entirely in the caller's transaction: validation, then all the writes, or nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import IO

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.auth.principal import Principal
from intuitivus_flow.auth.scopes import Scope
from intuitivus_flow.config import Settings
from intuitivus_flow.dataport import exporter, importer
from intuitivus_flow.dataport.archive import Archive, ImportLimits
from intuitivus_flow.dataport.exporter import ExportPlan, Progress
from intuitivus_flow.dataport.importer import ImportProgress
from intuitivus_flow.dataport.registry import BY_NAME, ENTITIES
from intuitivus_flow.dataport.schemas import ExportFormat, ImportResult
from intuitivus_flow.events import catalog
from intuitivus_flow.events import service as events
from intuitivus_flow.kit.db import SessionFactory
from intuitivus_flow.kit.errors import InvalidInput
from intuitivus_flow.users.models import Role
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
    archive = Archive(upload, limits)
    validation = importer.Validation(session, archive, principal.workspace_id, progress)
    counts = await validation.run()
    total = sum(counts.values())
    if not dry_run:
        await importer.write(session, archive, principal.workspace_id, progress=progress)
        await events.record(
            session,
            workspace_id=principal.workspace_id,
            name=catalog.DATA_IMPORTED,
            user_id=principal.user_id,
            properties={"created": counts, "total": total},
        )
    return ImportResult(dry_run=dry_run, created=counts, total=total)


async def operator_principal(session: AsyncSession, workspace_id: uuid.UUID) -> Principal:
    """The CLI acts with shell access to the database: as an owner of the named workspace."""
    await WorkspaceRepository(session, workspace_id).current()  # 404 for an unknown id
    return Principal(workspace_id=workspace_id, role=Role.owner, scopes=frozenset(Scope))
