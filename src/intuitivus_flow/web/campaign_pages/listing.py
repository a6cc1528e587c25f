"""The campaigns list (status, spend, ROAS) with the create form."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.campaigns import service as campaigns
from intuitivus_flow.campaigns.models import Platform
from intuitivus_flow.campaigns.reports import to_minor
from intuitivus_flow.campaigns.schemas import CampaignCreate
from intuitivus_flow.kit.http.deps import DbSession
from intuitivus_flow.web.auth import CurrentViewer, Viewer
from intuitivus_flow.web.campaign_pages.forms import CreateForm
from intuitivus_flow.web.campaign_pages.page import csrf_checked, notice, ratio_text
from intuitivus_flow.web.forms import FormInvalid, PageState, form_action, validate
from intuitivus_flow.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
LISTING_LIMIT = 100


@router.get("/campaigns")
async def campaigns_page(request: Request, session: DbSession, viewer: CurrentViewer) -> Response:
    return await _render_list(request, session, viewer, notice(request))


@router.post("/campaigns", dependencies=csrf_checked)
async def create_campaign(
    request: Request,
    form: Annotated[CreateForm, Form()],
    session: DbSession,
    viewer: CurrentViewer,
) -> Response:
    values = form.values()

    async def create() -> Any:
        data = validate(CampaignCreate, _create_data(form), values)
        return await campaigns.create(session, viewer.principal, data=data)

    try:
        campaign = await form_action(session, viewer, values, create)
    except FormInvalid as invalid:
        state = PageState.failed("create", invalid.state)
        return await _render_list(request, session, viewer, state)
    return redirect(f"/campaigns/{campaign.id}?done=created")


def _create_data(form: CreateForm) -> dict[str, object]:
    currency = form.currency.strip().upper() or "USD"
    data: dict[str, object] = {"name": form.name, "platform": form.platform, "currency": currency}
    if form.starts_at.strip():  # a date input: the day starts at midnight UTC
        data["starts_at"] = f"{form.starts_at.strip()}T00:00:00+00:00"
    for amount, schema_name in (
        (form.total_budget, "total_budget_minor"),
        (form.daily_budget, "daily_budget_minor"),
    ):
        if amount.strip():
            minor, problem = to_minor(amount, currency, required=False)
            # An unreadable amount goes to the schema as text, which names the field.
            data[schema_name] = amount if problem else minor
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
        "ratio_text": ratio_text,
    }
    return render(request, "campaigns.html", context, status_code=state.status_code)
