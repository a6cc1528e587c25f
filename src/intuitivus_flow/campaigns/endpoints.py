from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile, status
from pydantic import BaseModel

from intuitivus_flow.campaigns import automation, schemas
from intuitivus_flow.campaigns import service as campaigns
from intuitivus_flow.campaigns.models import CampaignStatus, Platform
from intuitivus_flow.campaigns.reports import FileReports, StaticReports
from intuitivus_flow.kit.http.deps import CurrentPrincipal, DbSession, Paging

router = APIRouter(prefix="/api/campaigns", tags=["campaigns"])


class EventPage(BaseModel):
    items: list[schemas.CampaignEventRead]
    total: int
    limit: int
    offset: int


@router.post(
    "",
    response_model=schemas.CampaignRead,
    status_code=status.HTTP_201_CREATED,
    summary="Create a campaign",
)
async def create_campaign(
    body: schemas.CampaignCreate, session: DbSession, principal: CurrentPrincipal
) -> object:
    """A new campaign, in draft."""
    return await campaigns.create(session, principal, data=body)


@router.get("", response_model=schemas.CampaignPage, summary="List campaigns")
async def list_campaigns(
    session: DbSession,
    principal: CurrentPrincipal,
    paging: Paging,
    status_filter: Annotated[CampaignStatus | None, Query(alias="status")] = None,
    platform: Platform | None = None,
) -> object:
    """Newest first, with spend, revenue and derived ratios."""
    return await campaigns.list_campaigns(
        session,
        principal,
        status=status_filter,
        platform=platform.value if platform else None,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.get(
    "/automation/status", response_model=schemas.QueueStatus, summary="Automation queue status"
)
async def automation_status(session: DbSession, principal: CurrentPrincipal) -> object:
    """Depth (jobs ready to run), lag (age of the oldest ready job) and running jobs of the
    campaigns queue, and this workspace's campaign jobs that failed for good."""
    return await automation.queue_status(session, principal)


@router.get("/{campaign_id}", response_model=schemas.CampaignSummary, summary="One campaign")
async def get_campaign(
    campaign_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> object:
    """A campaign of this workspace with its totals; other workspaces' ids answer 404."""
    return await campaigns.get_summary(session, principal, campaign_id)


@router.patch("/{campaign_id}", response_model=schemas.CampaignRead, summary="Change a campaign")
async def update_campaign(
    campaign_id: uuid.UUID,
    body: schemas.CampaignUpdate,
    session: DbSession,
    principal: CurrentPrincipal,
) -> object:
    """Change settings; completed and cancelled campaigns are read-only (409)."""
    return await campaigns.update(session, principal, campaign_id, changes=body)


@router.delete(
    "/{campaign_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a campaign"
)
async def delete_campaign(
    campaign_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> None:
    """Delete with its reports, steps and history (an active campaign must be paused first)."""
    await campaigns.delete(session, principal, campaign_id)


@router.put("/{campaign_id}/status", response_model=schemas.CampaignRead, summary="Change status")
async def change_status(
    campaign_id: uuid.UUID,
    body: schemas.CampaignStatusChange,
    session: DbSession,
    principal: CurrentPrincipal,
) -> object:
    """draft → scheduled → active ⇄ paused → completed; cancelled from any non-final state."""
    return await campaigns.change_status(
        session, principal, campaign_id, status=body.status, reason=body.reason
    )


@router.get("/{campaign_id}/events", response_model=EventPage, summary="Campaign timeline")
async def campaign_events(
    campaign_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal, paging: Paging
) -> object:
    """Status changes (with reasons, e.g. the budget auto-pause) and automation runs."""
    return await campaigns.timeline(
        session, principal, campaign_id, limit=paging.limit, offset=paging.offset
    )


@router.get("/{campaign_id}/performance", response_model=schemas.Performance, summary="Performance")
async def performance(
    campaign_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> object:
    """Totals and days with CTR, CPC, CPA and ROAS (null where the denominator is zero)."""
    return await campaigns.performance(session, principal, campaign_id)


@router.post(
    "/{campaign_id}/reports",
    response_model=schemas.ReportIngested,
    summary="Ingest a report (JSON)",
)
async def ingest_report(
    campaign_id: uuid.UUID,
    body: schemas.ReportUpload,
    session: DbSession,
    principal: CurrentPrincipal,
) -> schemas.ReportIngested:
    """Daily rows in minor units; all or nothing; a day sent again replaces the stored one."""
    rows, campaign = await campaigns.ingest(
        session, principal, campaign_id, source=StaticReports(body.rows)
    )
    (summary,) = await campaigns.summarize(session, principal.workspace_id, [campaign])
    return schemas.ReportIngested(rows=rows, campaign=summary)


@router.post(
    "/{campaign_id}/reports/file",
    response_model=schemas.ReportIngested,
    summary="Ingest a report file (CSV or JSON)",
)
async def ingest_report_file(
    campaign_id: uuid.UUID,
    file: Annotated[UploadFile, File(description="CSV or JSON export of the ad platform.")],
    session: DbSession,
    principal: CurrentPrincipal,
) -> schemas.ReportIngested:
    """Columns date, impressions, clicks, conversions, spend, revenue (money as decimals in the
    campaign's currency). Every bad row is reported with its line and field; nothing is stored
    unless every row is valid."""
    source = FileReports(await file.read(), file.filename or "")
    rows, campaign = await campaigns.ingest(session, principal, campaign_id, source=source)
    (summary,) = await campaigns.summarize(session, principal.workspace_id, [campaign])
    return schemas.ReportIngested(rows=rows, campaign=summary)


@router.get(
    "/{campaign_id}/steps", response_model=list[schemas.StepRead], summary="Automation steps"
)
async def list_steps(
    campaign_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> object:
    """In order, with how many contacts each step was done for."""
    return await automation.list_steps(session, principal, campaign_id)


@router.put("/{campaign_id}/steps", response_model=list[schemas.StepRead], summary="Set the steps")
async def replace_steps(
    campaign_id: uuid.UUID,
    body: schemas.StepsReplace,
    session: DbSession,
    principal: CurrentPrincipal,
) -> object:
    """The whole ordered list: send_template, send_message, wait, branch (on reply or
    conversion, forward to a later position or stop). Fixed once contacts went through it."""
    return await automation.replace_steps(session, principal, campaign_id, steps=body.steps)


@router.post(
    "/{campaign_id}/automation/run",
    response_model=schemas.AutomationRun,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Run the automation",
)
async def run_automation(
    campaign_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> schemas.AutomationRun:
    """Enrol the audience (contacts with all `audience_tags`); each contact then goes through
    the steps on the job queue. Running again only enrols contacts that are new to it."""
    job = await automation.run(session, principal, campaign_id)
    return schemas.AutomationRun(campaign_id=campaign_id, job_id=job.id)


@router.post(
    "/{campaign_id}/conversions",
    response_model=schemas.ConversionRead,
    status_code=status.HTTP_201_CREATED,
    summary="Record a conversion",
)
async def record_conversion(
    campaign_id: uuid.UUID,
    body: schemas.ConversionCreate,
    session: DbSession,
    principal: CurrentPrincipal,
) -> object:
    """A contact converted (from the shop or CRM); branches on "conversion" read it."""
    return await automation.record_conversion(
        session, principal, campaign_id, contact_id=body.contact_id, value_minor=body.value_minor
    )
