"""Report upload on a campaign's page: a rejected file lists every bad row with its line and
field, and nothing is stored."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from intuitivus_flow.campaigns import service as campaigns
from intuitivus_flow.campaigns.reports import FileReports, ReportRejected
from intuitivus_flow.kit.errors import FlowError
from intuitivus_flow.kit.http.deps import DbSession
from intuitivus_flow.web.auth import CurrentViewer
from intuitivus_flow.web.campaign_pages.page import csrf_checked, done_url, render_campaign
from intuitivus_flow.web.forms import PageState, discard_failed_work, parse_id
from intuitivus_flow.web.templating import redirect

router = APIRouter(include_in_schema=False)


@router.post("/campaigns/{campaign_id}/reports", dependencies=csrf_checked)
async def upload_report(
    request: Request, campaign_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    upload = (await request.form()).get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ReportRejected([])
        source = FileReports(await upload.read(), upload.filename)
        campaign = parse_id(campaign_id, "Campaign")
        await campaigns.ingest(session, viewer.principal, campaign, source=source)
    except FlowError as error:
        await discard_failed_work(session, error, viewer.user, viewer.workspace)
        if not isinstance(error, ReportRejected):
            state = PageState(alert=error.detail, status_code=error.status_code)
            return await render_campaign(
                request, session, viewer, campaign_id, state, tab="performance"
            )
        state = PageState(
            alert=error.detail if error.problems else "Choose a CSV or JSON file.",
            status_code=422,
        )
        problems = [problem.as_dict() for problem in error.problems]
        return await render_campaign(
            request,
            session,
            viewer,
            campaign_id,
            state,
            tab="performance",
            report_problems=problems,
        )
    return redirect(done_url(campaign_id, "performance", "report#performance-title"))
