"""The Data page for owners and admins: download the workspace (JSON Lines or CSV), upload an
export to import, and follow each import on its own status page.

An import is queued (dataport/tasks.py): the request checks the archive's shape, stores the
upload and enqueues the job, then the browser goes to `/data/imports/{id}`, which reloads
itself (a `Refresh` header, no script) until the import succeeded or failed. A request never
holds the import's transaction, so no proxy timeout or closed tab can cut an import in half.

A dry run stays in the request: it writes nothing (no transaction to protect, no write lock on
SQLite) and its answer, the counts or every bad row, belongs on the page that asked. Dry runs
of very large files are better left to the queued import itself (it validates every row
before writing any) or to `intuitivus-flow data import --dry-run`.
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
from intuitivus_flow.dataport.models import FINISHED
from intuitivus_flow.dataport.registry import ENTITIES
from intuitivus_flow.dataport.schemas import ExportFormat, ImportResult
from intuitivus_flow.identity.roles import Role
from intuitivus_flow.kit.errors import FlowError
from intuitivus_flow.kit.http.deps import DbSession
from intuitivus_flow.web import csrf
from intuitivus_flow.web.app_context import Context
from intuitivus_flow.web.auth import CurrentViewer, Viewer
from intuitivus_flow.web.forms import FormInvalid, FormState, PageState, form_action, parse_id
from intuitivus_flow.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
csrf_checked = [Depends(csrf.require_csrf)]

RECENT_IMPORTS = 10
REFRESH_SECONDS = 2


def _refusal(request: Request, viewer: Viewer) -> Response | None:
    if viewer.principal.role.rank >= Role.admin.rank:
        return None
    message = "Export and import are available to workspace owners and admins."
    context = {"viewer": viewer, "title": "Not allowed", "message": message}
    return render(request, "error.html", context, status_code=403)


async def _render(
    request: Request,
    session: AsyncSession,
    viewer: Viewer,
    state: PageState,
    *,
    result: ImportResult | None = None,
    rejection: ImportRejected | None = None,
) -> Response:
    context: dict[str, Any] = {
        "viewer": viewer,
        "view": state,
        "entities": [spec.name for spec in ENTITIES],
        "imports": await dataport.recent_imports(session, viewer.principal, limit=RECENT_IMPORTS),
        "result": result,
        "rejection": rejection,
    }
    return render(request, "data.html", context, status_code=state.status_code)


@router.get("/data")
async def data_page(request: Request, session: DbSession, viewer: CurrentViewer) -> Response:
    if refusal := _refusal(request, viewer):
        return refusal
    return await _render(request, session, viewer, PageState())


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
    """A dry run answers on this page; a real import is queued and followed on its own."""
    if refusal := _refusal(request, viewer):
        return refusal
    form = await request.form()  # already parsed (and cached) by the CSRF check
    file = form.get("file")
    values = {"dry_run": "on" if form.get("dry_run") == "on" else ""}
    settings = context.settings
    try:
        if not isinstance(file, UploadFile) or not file.filename:
            errors = {"file": "Choose an export file."}
            raise FormInvalid(FormState(values=values, errors=errors, status_code=422))
        upload_file, file_name = file.file, file.filename
        if values["dry_run"]:
            result = await form_action(
                session,
                viewer,
                values,
                lambda: dataport.import_archive(
                    session,
                    viewer.principal,
                    upload=upload_file,
                    limits=dataport.limits_from(settings),
                    dry_run=True,
                ),
            )
            return await _render(request, session, viewer, PageState(), result=result)
        run = await form_action(
            session,
            viewer,
            values,
            lambda: dataport.request_import(
                session,
                viewer.principal,
                upload=upload_file,
                file_name=file_name,
                limits=dataport.limits_from(settings),
            ),
        )
    except FormInvalid as invalid:
        # A rejected archive lists its bad rows under the form (form_action kept the cause).
        cause = invalid.__cause__
        rejection = cause if isinstance(cause, ImportRejected) else None
        state = PageState.failed("import", invalid.state)
        return await _render(request, session, viewer, state, rejection=rejection)
    return redirect(f"/data/imports/{run.id}")


@router.get("/data/imports/{run_id}")
async def import_page(
    request: Request, run_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    if refusal := _refusal(request, viewer):
        return refusal
    try:
        run = await dataport.get_import(session, viewer.principal, parse_id(run_id, "Import"))
    except FlowError as error:
        context = {"viewer": viewer, "title": "Import not found", "message": error.detail}
        return render(request, "error.html", context, status_code=error.status_code)
    in_progress = run.status not in FINISHED
    context = {
        "viewer": viewer,
        "run": run,
        "in_progress": in_progress,
        "refresh_seconds": REFRESH_SECONDS,
    }
    # While the worker is busy, the browser reloads the page (no script needed; CSP-friendly).
    headers = {"Refresh": str(REFRESH_SECONDS)} if in_progress else None
    return render(request, "data_import.html", context, headers=headers)
