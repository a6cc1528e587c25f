from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile, status

from intuitivus_flow.campaigns import schemas
from intuitivus_flow.campaigns import service as campaigns
from intuitivus_flow.campaigns.automation import schemas as steps
from intuitivus_flow.campaigns.automation import service as automation
from intuitivus_flow.campaigns.automation.models import CampaignConversion
from intuitivus_flow.campaigns.models import Campaign, CampaignEvent, CampaignStatus, Platform
from intuitivus_flow.campaigns.reports import FileReports, StaticReports
from intuitivus_flow.identity.http import CurrentPrincipal
from intuitivus_flow.identity.requirements import requires
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import Conflict
from intuitivus_flow.kit.http.deps import DbSession, Paging
from intuitivus_flow.kit.http.openapi import route_errors
from intuitivus_flow.kit.pagination import Page

router = APIRouter(prefix="/api/campaigns", tags=["campaigns"])


@router.post(
    "",
    dependencies=[requires(Scope.campaigns_write)],
    response_model=schemas.CampaignRead,
    status_code=status.HTTP_201_CREATED,
    summary="Create a campaign",
)
async def create_campaign(
    body: schemas.CampaignCreate, session: DbSession, principal: CurrentPrincipal
) -> Campaign:
    """A new campaign, in draft."""
    return await campaigns.create(session, principal, data=body)


@router.get(
    "",
    dependencies=[requires(Scope.campaigns_read)],
    response_model=schemas.CampaignPage,
    summary="List campaigns",
)
async def list_campaigns(
    session: DbSession,
    principal: CurrentPrincipal,
    paging: Paging,
    status_filter: Annotated[CampaignStatus | None, Query(alias="status")] = None,
    platform: Platform | None = None,
) -> Page[schemas.CampaignSummary]:
    """Newest first, with spend, revenue and derived ratios."""
    return await campaigns.list_campaigns(
        session,
        principal,
        status=status_filter,
        platform=platform,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.get(
    "/automation/status",
    dependencies=[requires(Scope.campaigns_read)],
    response_model=steps.QueueStatus,
    summary="Automation queue status",
)
async def automation_status(session: DbSession, principal: CurrentPrincipal) -> steps.QueueStatus:
    """Depth (jobs ready to run), lag (age of the oldest ready job) and running jobs of the
    campaigns queue, and this workspace's campaign jobs that failed for good."""
    return await automation.queue_status(session, principal)


@router.get(
    "/{campaign_id}",
    dependencies=[requires(Scope.campaigns_read)],
    response_model=schemas.CampaignSummary,
    summary="One campaign",
)
async def get_campaign(
    campaign_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> schemas.CampaignSummary:
    """A campaign of this workspace with its totals; other workspaces' ids answer 404."""
    return await campaigns.get_summary(session, principal, campaign_id)


@router.patch(
    "/{campaign_id}",
    openapi_extra=route_errors(Conflict),
    dependencies=[requires(Scope.campaigns_write)],
    response_model=schemas.CampaignRead,
    summary="Change a campaign",
)
async def update_campaign(
    campaign_id: uuid.UUID,
    body: schemas.CampaignUpdate,
    session: DbSession,
    principal: CurrentPrincipal,
) -> Campaign:
    """Change settings; completed and cancelled campaigns are read-only (409)."""
    return await campaigns.update(session, principal, campaign_id, changes=body)


@router.delete(
    "/{campaign_id}",
    openapi_extra=route_errors(Conflict),
    dependencies=[requires(Scope.campaigns_write)],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a campaign",
)
async def delete_campaign(
    campaign_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> None:
    """Delete with its reports, steps and history (an active campaign must be paused first)."""
    await campaigns.delete(session, principal, campaign_id)


@router.put(
    "/{campaign_id}/status",
    openapi_extra=route_errors(Conflict),
    dependencies=[requires(Scope.campaigns_write)],
    response_model=schemas.CampaignRead,
    summary="Change status",
)
async def change_status(
    campaign_id: uuid.UUID,
    body: schemas.CampaignStatusChange,
    session: DbSession,
    principal: CurrentPrincipal,
) -> Campaign:
    """draft → scheduled → active ⇄ paused → completed; cancelled from any non-final state."""
    return await campaigns.change_status(
        session, principal, campaign_id, status=body.status, reason=body.reason
    )


@router.get(
    "/{campaign_id}/events",
    dependencies=[requires(Scope.campaigns_read)],
    response_model=schemas.CampaignEventPage,
    summary="Campaign timeline",
)
async def campaign_events(
    campaign_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal, paging: Paging
) -> Page[CampaignEvent]:
    """Status changes (with reasons, e.g. the budget auto-pause) and automation runs."""
    return await campaigns.timeline(
        session, principal, campaign_id, limit=paging.limit, offset=paging.offset
    )


@router.get(
    "/{campaign_id}/performance",
    dependencies=[requires(Scope.campaigns_read)],
    response_model=schemas.Performance,
    summary="Performance",
)
async def performance(
    campaign_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> schemas.Performance:
    """Totals and days with CTR, CPC, CPA and ROAS (null where the denominator is zero)."""
    return await campaigns.performance(session, principal, campaign_id)


@router.post(
    "/{campaign_id}/reports",
    dependencies=[requires(Scope.campaigns_write)],
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
    dependencies=[requires(Scope.campaigns_write)],
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
    "/{campaign_id}/steps",
    dependencies=[requires(Scope.campaigns_read)],
    response_model=list[steps.StepRead],
    summary="Automation steps",
)
async def list_steps(
    campaign_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> list[steps.StepRead]:
    """In order, with how many contacts each step was done for. Step ids never change; a
    branch's `if_true`/`if_false` are the ids of the steps it continues at."""
    return await automation.list_steps(session, principal, campaign_id)


@router.put(
    "/{campaign_id}/steps",
    openapi_extra=route_errors(Conflict),
    dependencies=[requires(Scope.campaigns_write)],
    response_model=list[steps.StepRead],
    summary="Set the steps",
)
async def replace_steps(
    campaign_id: uuid.UUID,
    body: steps.StepsReplace,
    session: DbSession,
    principal: CurrentPrincipal,
) -> list[steps.StepRead]:
    """The whole ordered list: send_template, send_message, wait, branch (on reply or
    conversion, forward to a later step or stop). Each entry may carry an `id`: a step of the
    campaign keeps its identity, any other id names the entry for the list's branches. Once
    contacts went through a step, edit the steps one at a time instead (409)."""
    return await automation.replace_steps(
        session, principal, campaign_id, entries=body.steps, version=body.version
    )


@router.post(
    "/{campaign_id}/steps",
    openapi_extra=route_errors(Conflict),
    dependencies=[requires(Scope.campaigns_write)],
    response_model=steps.StepRead,
    status_code=status.HTTP_201_CREATED,
    summary="Add a step",
)
async def add_step(
    campaign_id: uuid.UUID,
    body: steps.StepCreate,
    session: DbSession,
    principal: CurrentPrincipal,
) -> steps.StepRead:
    """Insert one step (at the end unless `position` says where; later steps move down)."""
    return await automation.add_step(
        session,
        principal,
        campaign_id,
        spec=body.step,
        position=body.position,
        version=body.version,
    )


@router.patch(
    "/{campaign_id}/steps/{step_id}",
    openapi_extra=route_errors(Conflict),
    dependencies=[requires(Scope.campaigns_write)],
    response_model=steps.StepRead,
    summary="Change a step",
)
async def update_step(
    campaign_id: uuid.UUID,
    step_id: uuid.UUID,
    body: steps.StepUpdate,
    session: DbSession,
    principal: CurrentPrincipal,
) -> steps.StepRead:
    """New settings for one step (its kind stays); allowed while the automation runs."""
    return await automation.update_step(
        session, principal, campaign_id, step_id, spec=body.step, version=body.version
    )


@router.put(
    "/{campaign_id}/steps/{step_id}/position",
    openapi_extra=route_errors(Conflict),
    dependencies=[requires(Scope.campaigns_write)],
    response_model=list[steps.StepRead],
    summary="Move a step",
)
async def move_step(
    campaign_id: uuid.UUID,
    step_id: uuid.UUID,
    body: steps.StepMove,
    session: DbSession,
    principal: CurrentPrincipal,
) -> list[steps.StepRead]:
    """The step to another position; refused (422) when a branch would then continue at an
    earlier step. Answers the whole list in its new order."""
    return await automation.move_step(
        session, principal, campaign_id, step_id, position=body.position, version=body.version
    )


@router.delete(
    "/{campaign_id}/steps/{step_id}",
    openapi_extra=route_errors(Conflict),
    dependencies=[requires(Scope.campaigns_write)],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a step",
)
async def delete_step(
    campaign_id: uuid.UUID,
    step_id: uuid.UUID,
    session: DbSession,
    principal: CurrentPrincipal,
    version: Annotated[int | None, Query(ge=0, description="The steps_version seen.")] = None,
) -> None:
    """Later steps move up. 409 while a branch continues at the step, once contacts went
    through it, or while a job waits for it."""
    await automation.delete_step(session, principal, campaign_id, step_id, version=version)


@router.post(
    "/{campaign_id}/automation/run",
    openapi_extra=route_errors(Conflict),
    dependencies=[requires(Scope.campaigns_write)],
    response_model=steps.AutomationRun,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Run the automation",
)
async def run_automation(
    campaign_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> steps.AutomationRun:
    """Enrol the audience (contacts with all `audience_tags`); each contact then goes through
    the steps on the job queue. Running again only enrols contacts that are new to it."""
    job = await automation.run(session, principal, campaign_id)
    return steps.AutomationRun(campaign_id=campaign_id, job_id=job.id)


@router.post(
    "/{campaign_id}/conversions",
    dependencies=[requires(Scope.campaigns_write)],
    response_model=steps.ConversionRead,
    status_code=status.HTTP_201_CREATED,
    summary="Record a conversion",
)
async def record_conversion(
    campaign_id: uuid.UUID,
    body: steps.ConversionCreate,
    session: DbSession,
    principal: CurrentPrincipal,
) -> CampaignConversion:
    """A contact converted (from the shop or CRM); branches on "conversion" read it."""
    return await automation.record_conversion(
        session, principal, campaign_id, contact_id=body.contact_id, value_minor=body.value_minor
    )
