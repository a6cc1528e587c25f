"""The Data page for owners and admins: download the workspace (JSON Lines or CSV) and upload
an export to import, with a dry-run that shows what would be created or every bad row.

Imports from the browser run within one request; very large ones are better run with
`intuitivus-flow data import` (progress bar, no proxy timeouts), as the page says.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile

from intuitivus_flow.dataport import service as dataport
from intuitivus_flow.dataport.endpoints import export_response
from intuitivus_flow.dataport.exceptions import ImportRejected
from intuitivus_flow.dataport.registry import ENTITIES
from intuitivus_flow.dataport.schemas import ExportFormat
from intuitivus_flow.kit.errors import FlowError
from intuitivus_flow.kit.http.deps import Context, DbSession
from intuitivus_flow.users.models import Role
from intuitivus_flow.web import csrf
from intuitivus_flow.web.auth import CurrentViewer, Viewer
from intuitivus_flow.web.forms import discard_failed_work
from intuitivus_flow.web.templating import render

router = APIRouter(include_in_schema=False)
csrf_checked = [Depends(csrf.require_csrf)]


def _refusal(request: Request, viewer: Viewer) -> Response | None:
    if viewer.principal.role.rank >= Role.admin.rank:
        return None
    message = "Export and import are available to workspace owners and admins."
    context = {"viewer": viewer, "title": "Not allowed", "message": message}
    return render(request, "error.html", context, status_code=403)


def _render(request: Request, viewer: Viewer, *, status_code: int = 200, **page: Any) -> Response:
    context: dict[str, Any] = {
        "viewer": viewer,
        "entities": [spec.name for spec in ENTITIES],
        "result": None,
        "rejection": None,
        "message": None,
        "dry_run": True,
        **page,
    }
    return render(request, "data.html", context, status_code=status_code)


@router.get("/data")
async def data_page(request: Request, viewer: CurrentViewer) -> Response:
    if refusal := _refusal(request, viewer):
        return refusal
    return _render(request, viewer)


@router.get("/data/export")
async def download(
    request: Request,
    session: DbSession,
    viewer: CurrentViewer,
    context: Context,
    export_format: ExportFormat = Query(ExportFormat.jsonl, alias="format"),
    entity: str | None = Query(None, max_length=40),
) -> Response:
    if refusal := _refusal(request, viewer):
        return refusal
    plan = await dataport.plan_export(
        session, viewer.principal, export_format=export_format, entity=entity
    )
    return export_response(context, plan)


@router.post("/data/import", dependencies=csrf_checked)
async def upload(
    request: Request, session: DbSession, viewer: CurrentViewer, context: Context
) -> Response:
    if refusal := _refusal(request, viewer):
        return refusal
    form = await request.form()  # already parsed (and cached) by the CSRF check
    file = form.get("file")
    dry_run = form.get("dry_run") == "on"
    if not isinstance(file, UploadFile) or not file.filename:
        return _render(
            request, viewer, message="Choose an export file.", dry_run=dry_run, status_code=422
        )
    try:
        result = await dataport.import_archive(
            session,
            viewer.principal,
            upload=file.file,
            limits=dataport.limits_from(context.settings),
            dry_run=dry_run,
        )
    except FlowError as error:
        return await _failed(request, session, viewer, error, dry_run=dry_run)
    return _render(request, viewer, result=result, dry_run=dry_run)


async def _failed(
    request: Request, session: AsyncSession, viewer: Viewer, error: FlowError, *, dry_run: bool
) -> Response:
    await discard_failed_work(session, error, viewer.user, viewer.workspace)
    rejection = error if isinstance(error, ImportRejected) else None
    message = None if rejection else error.detail
    return _render(
        request,
        viewer,
        rejection=rejection,
        message=message,
        dry_run=dry_run,
        status_code=error.status_code,
    )
