"""Campaigns in the web UI: the list (status, spend, ROAS) with a create form, and one
campaign's page: performance chart (inline SVG), steps, status actions, report upload and the
automation run button.

Actions follow post/redirect/get; failures re-render the page with the message (a rejected
report lists every bad row with its line and field).
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile

from intuitivus_flow.campaigns import automation
from intuitivus_flow.campaigns import service as campaigns
from intuitivus_flow.campaigns.models import CampaignStatus, Platform
from intuitivus_flow.campaigns.reports import FileReports, ReportRejected, decimals, to_minor
from intuitivus_flow.campaigns.schemas import CampaignCreate, Performance
from intuitivus_flow.campaigns.service import ALLOWED_TRANSITIONS
from intuitivus_flow.kit.errors import FlowError, NotFound
from intuitivus_flow.kit.http.deps import DbSession
from intuitivus_flow.metrics_history import charts
from intuitivus_flow.web import csrf
from intuitivus_flow.web.auth import CurrentViewer, Viewer
from intuitivus_flow.web.forms import (
    FormInvalid,
    PageState,
    discard_failed_work,
    form_action,
    parse_id,
    read_fields,
    validate,
)
from intuitivus_flow.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
csrf_checked = [Depends(csrf.require_csrf)]

CREATE_FIELDS = ("name", "platform", "currency", "total_budget", "daily_budget", "starts_at")
LISTING_LIMIT = 100
NOTICES = {
    "created": "The campaign was created as a draft.",
    "status": "The campaign's status was changed.",
    "report": "The report was stored.",
    "run": "The automation is running: its jobs are on the queue.",
}


def money(minor: int | float | None, currency: str) -> str:
    """Minor units as the currency's major amount, e.g. 123456 USD -> "1,234.56 USD"."""
    if minor is None:
        return "—"
    places = decimals(currency)
    return f"{minor / 10**places:,.{places}f} {currency}"


def ratio_text(value: float | None, *, percent: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.2f} %" if percent else f"{value:.2f}"


# --- the list ------------------------------------------------------------------------------


@router.get("/campaigns")
async def campaigns_page(request: Request, session: DbSession, viewer: CurrentViewer) -> Response:
    state = PageState(notice=NOTICES.get(request.query_params.get("done", "")))
    return await _render_list(request, session, viewer, state)


@router.post("/campaigns", dependencies=csrf_checked)
async def create_campaign(request: Request, session: DbSession, viewer: CurrentViewer) -> Response:
    values = await read_fields(request, CREATE_FIELDS)

    async def create() -> Any:
        data = validate(CampaignCreate, _create_data(values), values)
        return await campaigns.create(session, viewer.principal, data=data)

    try:
        campaign = await form_action(session, viewer, values, create)
    except FormInvalid as invalid:
        state = PageState.failed("create", invalid.state)
        return await _render_list(request, session, viewer, state)
    return redirect(f"/campaigns/{campaign.id}?done=created")


def _create_data(values: dict[str, str]) -> dict[str, object]:
    currency = values["currency"].strip().upper() or "USD"
    data: dict[str, object] = {
        "name": values["name"],
        "platform": values["platform"],
        "currency": currency,
    }
    if values["starts_at"].strip():  # a date input: the day starts at midnight UTC
        data["starts_at"] = f"{values['starts_at'].strip()}T00:00:00+00:00"
    for form_name, schema_name in (
        ("total_budget", "total_budget_minor"),
        ("daily_budget", "daily_budget_minor"),
    ):
        if values[form_name].strip():
            minor, problem = to_minor(values[form_name], currency, required=False)
            # An unreadable amount goes to the schema as text, which names the field.
            data[schema_name] = values[form_name] if problem else minor
    return data


async def _render_list(
    request: Request, session: AsyncSession, viewer: Viewer, state: PageState
) -> Response:
    page = await campaigns.list_campaigns(
        session, viewer.principal, status=None, platform=None, limit=LISTING_LIMIT, offset=0
    )
    context = {
        "viewer": viewer,
        "view": state,
        "campaigns": page.items,
        "total": page.total,
        "platforms": list(Platform),
        "money": money,
        "ratio_text": ratio_text,
    }
    return render(request, "campaigns.html", context, status_code=state.status_code)


# --- one campaign --------------------------------------------------------------------------


@router.get("/campaigns/{campaign_id}")
async def campaign_page(
    request: Request, campaign_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    state = PageState(notice=NOTICES.get(request.query_params.get("done", "")))
    return await _render_campaign(request, session, viewer, campaign_id, state)


@router.post("/campaigns/{campaign_id}/status", dependencies=csrf_checked)
async def change_status(
    request: Request, campaign_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    values = await read_fields(request, ("status",))

    async def change() -> None:
        status = _parse_status(values["status"])
        await campaigns.change_status(
            session, viewer.principal, parse_id(campaign_id, "Campaign"), status=status
        )

    try:
        await form_action(session, viewer, values, change)
    except FormInvalid as invalid:
        return await _action_failed(request, session, viewer, campaign_id, invalid)
    return redirect(f"/campaigns/{campaign_id}?done=status")


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
            return await _render_campaign(request, session, viewer, campaign_id, state)
        state = PageState(
            alert=error.detail if error.problems else "Choose a CSV or JSON file.",
            status_code=422,
        )
        problems = [problem.as_dict() for problem in error.problems]
        return await _render_campaign(
            request, session, viewer, campaign_id, state, report_problems=problems
        )
    return redirect(f"/campaigns/{campaign_id}?done=report")


@router.post("/campaigns/{campaign_id}/automation/run", dependencies=csrf_checked)
async def run_automation(
    request: Request, campaign_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    try:
        campaign = parse_id(campaign_id, "Campaign")
        await form_action(
            session, viewer, {}, lambda: automation.run(session, viewer.principal, campaign)
        )
    except FormInvalid as invalid:
        return await _action_failed(request, session, viewer, campaign_id, invalid)
    return redirect(f"/campaigns/{campaign_id}?done=run")


async def _render_campaign(
    request: Request,
    session: AsyncSession,
    viewer: Viewer,
    campaign_id: str,
    state: PageState,
    *,
    report_problems: list[dict[str, Any]] | None = None,
) -> Response:
    principal = viewer.principal
    summary = await campaigns.get_summary(session, principal, parse_id(campaign_id, "Campaign"))
    performance = await campaigns.performance(session, principal, summary.id)
    steps = await automation.list_steps(session, principal, summary.id)
    timeline = await campaigns.timeline(session, principal, summary.id, limit=20, offset=0)
    context = {
        "viewer": viewer,
        "view": state,
        "report_problems": report_problems or [],
        "campaign": summary,
        "performance": performance,
        "chart": _chart(performance),
        "steps": steps,
        "timeline": timeline.items,
        "actions": sorted(ALLOWED_TRANSITIONS[summary.status], key=list(CampaignStatus).index),
        "money": money,
        "ratio_text": ratio_text,
    }
    return render(request, "campaign.html", context, status_code=state.status_code)


def _chart(performance: Performance) -> Any:
    """Daily spend and revenue in major units, or None before the first report."""
    if not performance.days:
        return None
    scale = 10 ** decimals(performance.currency)

    def at(day: Any) -> datetime:
        return datetime.combine(day.date, time(), tzinfo=UTC)

    lines = [
        charts.Line(
            label=label,
            points=[(at(day), getattr(day, attribute) / scale) for day in performance.days],
        )
        for label, attribute in (("spend", "spend_minor"), ("revenue", "revenue_minor"))
    ]
    chart = charts.Chart(
        title="Spend and revenue per day",
        unit=performance.currency,
        lines=lines,
        start=at(performance.days[0]),
        end=at(performance.days[-1]),
    )
    return charts.render(chart)


async def _action_failed(
    request: Request, session: AsyncSession, viewer: Viewer, campaign_id: str, failed: FormInvalid
) -> Response:
    state = PageState.alerting(failed.state)
    return await _render_campaign(request, session, viewer, campaign_id, state)


def _parse_status(raw: str) -> CampaignStatus:
    try:
        return CampaignStatus(raw)
    except ValueError:
        raise NotFound("Unknown status") from None
