from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile, status
from fastapi.responses import StreamingResponse

from intuitivus_flow.billing.exceptions import PlanLimitReached
from intuitivus_flow.dataport import service as dataport
from intuitivus_flow.dataport.exports.service import ExportPlan
from intuitivus_flow.dataport.schemas import ExportFormat, ImportResult, ImportRunRead
from intuitivus_flow.identity.http import CurrentPrincipal
from intuitivus_flow.identity.requirements import requires
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import Conflict
from intuitivus_flow.kit.http.deps import Context, DbSession
from intuitivus_flow.kit.http.openapi import route_errors
from intuitivus_flow.kit.http.streaming import FirstChunkFirst

router = APIRouter(prefix="/api/data", tags=["data"])


def export_response(context: Context, plan: ExportPlan) -> StreamingResponse:
    """The export as a download, streamed page by page (no Content-Length: sent as read).
    Its first chunk (the export's own session and snapshot) comes before the status, so a
    database that does not answer is a 503, not a 200 with a truncated file."""
    body = dataport.stream_export(
        context.sessions, plan, page_rows=context.settings.export_page_rows
    )
    return FirstChunkFirst(
        body,
        media_type=plan.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{plan.filename}"',
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/export",
    dependencies=[requires(Scope.data_export)],
    summary="Export the workspace",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}, "text/csv": {}}}},
)
async def export_data(
    session: DbSession,
    principal: CurrentPrincipal,
    context: Context,
    export_format: Annotated[ExportFormat, Query(alias="format")] = ExportFormat.jsonl,
    entity: Annotated[str | None, Query(max_length=40)] = None,
) -> StreamingResponse:
    """A zip with `manifest.json` and one `<entity>.jsonl` (or `.csv`) per entity, parents
    first; with `entity`, that entity alone as a bare `.csv` or `.jsonl`. Secrets (provider
    keys, WhatsApp tokens, API keys, passwords) are never exported. Needs `data:export`."""
    plan = await dataport.plan_export(
        session, principal, export_format=export_format, entity=entity
    )
    return export_response(context, plan)


@router.post(
    "/import",
    # Imported agents count against the plan; a row may conflict while it is written.
    openapi_extra=route_errors(PlanLimitReached, Conflict),
    dependencies=[requires(Scope.data_import)],
    response_model=ImportResult,
    summary="Import into the workspace",
)
async def import_data(
    session: DbSession,
    principal: CurrentPrincipal,
    context: Context,
    file: Annotated[UploadFile, File(description="A zip made by the export.")],
    dry_run: Annotated[bool, Query(description="Validate and count only.")] = False,
) -> ImportResult:
    """Validates every row first: any bad row answers 422 listing each one (file, line,
    field) and nothing is written. Otherwise adds every row to the caller's workspace under
    new ids, with references rewritten, in one transaction. `dry_run=true` answers what would
    be created. Large uploads: 413 (see FLOW_IMPORT_MAX_BYTES). Needs `data:import`."""
    return await dataport.import_archive(
        session,
        principal,
        upload=file.file,
        limits=dataport.limits_from(context.settings),
        dry_run=dry_run,
    )


@router.post(
    "/imports",
    openapi_extra=route_errors(Conflict),  # a conflict while the upload is stored
    dependencies=[requires(Scope.data_import)],
    response_model=ImportRunRead,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Queue an import",
)
async def queue_import(
    session: DbSession,
    principal: CurrentPrincipal,
    context: Context,
    file: Annotated[UploadFile, File(description="A zip made by the export.")],
) -> ImportRunRead:
    """The same import as `POST /import`, run by a worker: answers at once with the run
    (`queued`); follow it with `GET /imports/{id}` (validating, importing, then succeeded
    with the rows per entity or failed with every bad row; nothing is written unless every
    row is valid). Not a zip or over the size limits: answered at once (422, 413). Needs
    `data:import`."""
    return await dataport.request_import(
        session,
        principal,
        upload=file.file,
        file_name=file.filename or "",
        limits=dataport.limits_from(context.settings),
    )


@router.get(
    "/imports",
    dependencies=[requires(Scope.data_import)],
    response_model=list[ImportRunRead],
    summary="Recent imports",
)
async def list_imports(
    session: DbSession,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[ImportRunRead]:
    """The workspace's latest queued imports, newest first. Needs `data:import`."""
    return await dataport.recent_imports(session, principal, limit=limit)


@router.get(
    "/imports/{run_id}",
    dependencies=[requires(Scope.data_import)],
    response_model=ImportRunRead,
    summary="An import's status",
)
async def import_status(
    run_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> ImportRunRead:
    """Where a queued import is: its state, rows processed of the total per entity, and its
    outcome. Another workspace's import is 404. Needs `data:import`."""
    return await dataport.get_import(session, principal, run_id)
