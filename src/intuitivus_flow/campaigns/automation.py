"""Automation, request side: a campaign's ordered steps, starting a run, conversions, status.

The worker side (one job per contact and step) is in `tasks.py`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.auth.principal import Principal
from intuitivus_flow.auth.scopes import Scope
from intuitivus_flow.campaigns.models import (
    Campaign,
    CampaignConversion,
    CampaignEvent,
    CampaignStatus,
    CampaignStep,
    StepKind,
)
from intuitivus_flow.campaigns.repository import (
    CampaignEventRepository,
    CampaignJobRepository,
    CampaignRepository,
    CampaignStepRepository,
    ConversionRepository,
    DeliveryRepository,
)
from intuitivus_flow.campaigns.schemas import QueueStatus, StepRead, StepSpec
from intuitivus_flow.events import catalog
from intuitivus_flow.events import service as events
from intuitivus_flow.jobs import service as jobs
from intuitivus_flow.jobs.models import Job
from intuitivus_flow.kit.errors import Conflict, InvalidInput
from intuitivus_flow.kit.models import utcnow

QUEUE = "campaigns"
ENROLL = "campaign.enroll"
RUN_STEP = "campaign.step"


def step_dedupe_key(step_id: uuid.UUID, contact_id: uuid.UUID) -> str:
    """One job per step and contact, ever: enqueuing the same pair again returns that job."""
    return f"campaign-step:{step_id}:{contact_id}"


async def list_steps(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID
) -> list[StepRead]:
    principal.require_scope(Scope.campaigns_read)
    await CampaignRepository(session, principal.workspace_id).get_or_raise(campaign_id)
    steps = await CampaignStepRepository(session, principal.workspace_id).ordered(campaign_id)
    counts = await DeliveryRepository(session, principal.workspace_id).count_by_step(campaign_id)
    return [
        StepRead(
            id=step.id,
            position=step.position,
            kind=StepKind(step.kind),
            config=step.config,
            deliveries=counts.get(step.id, 0),
        )
        for step in steps
    ]


async def replace_steps(
    session: AsyncSession,
    principal: Principal,
    campaign_id: uuid.UUID,
    *,
    steps: Sequence[StepSpec],
) -> list[StepRead]:
    """Set the whole ordered list. Once contacts went through a step the list is fixed, since
    their history and queued jobs point at those steps."""
    principal.require_scope(Scope.campaigns_write)
    campaign = await CampaignRepository(session, principal.workspace_id).get_or_raise(campaign_id)
    if await DeliveryRepository(session, principal.workspace_id).exists_for(campaign.id):
        raise Conflict("The automation already ran for some contacts; its steps are fixed")
    _check_branch_targets(steps)
    repository = CampaignStepRepository(session, principal.workspace_id)
    await repository.remove_all(campaign.id)
    await repository.add_many(
        [
            CampaignStep(
                campaign_id=campaign.id,
                position=position,
                kind=spec.kind.value,
                config=spec.model_dump(mode="json", exclude={"kind"}),
            )
            for position, spec in enumerate(steps, start=1)
        ]
    )
    await _record(session, principal, catalog.CAMPAIGN_STEPS_REPLACED, campaign, steps=len(steps))
    return await list_steps(session, principal, campaign.id)


def _check_branch_targets(steps: Sequence[StepSpec]) -> None:
    # Forward only: a contact never does a step twice, so a loop back could never run anyway.
    for position, spec in enumerate(steps, start=1):
        if spec.kind is not StepKind.branch:
            continue
        for name in ("if_true", "if_false"):
            target = getattr(spec, name)
            if target is not None and not position < target <= len(steps):
                raise InvalidInput(
                    f"Step {position}: {name} must name a later step (up to {len(steps)})",
                    field=f"steps.{position - 1}.{name}",
                )


async def run(session: AsyncSession, principal: Principal, campaign_id: uuid.UUID) -> Job:
    """Enrol the campaign's audience: a job selects the segment and queues each contact's
    first step. Running again only adds contacts that joined the segment since."""
    principal.require_scope(Scope.campaigns_write)
    campaign = await CampaignRepository(session, principal.workspace_id).get_or_raise(campaign_id)
    if campaign.status != CampaignStatus.active.value:
        raise InvalidInput(
            f"The campaign is {campaign.status}; activate it to run its automation",
            field="status",
        )
    steps = await CampaignStepRepository(session, principal.workspace_id).ordered(campaign.id)
    if not steps:
        raise InvalidInput("Add steps before running the automation", field="steps")
    if campaign.agent_id is None and any(s.kind == StepKind.send_message.value for s in steps):
        raise InvalidInput(
            "Message steps are sent by the assigned agent; assign one", field="agent_id"
        )
    job = await jobs.enqueue(
        session,
        kind=ENROLL,
        payload={"campaign_id": str(campaign.id)},
        workspace_id=principal.workspace_id,
        queue=QUEUE,
    )
    campaign.automation_started_at = campaign.automation_started_at or utcnow()
    await CampaignEventRepository(session, principal.workspace_id).add(
        CampaignEvent(campaign_id=campaign.id, kind="automation_started", user_id=principal.user_id)
    )
    await _record(
        session, principal, catalog.CAMPAIGN_AUTOMATION_STARTED, campaign, job_id=str(job.id)
    )
    return job


async def record_conversion(
    session: AsyncSession,
    principal: Principal,
    campaign_id: uuid.UUID,
    *,
    contact_id: uuid.UUID,
    value_minor: int,
) -> CampaignConversion:
    """Once per contact and campaign; recording it again returns the first one."""
    principal.require_scope(Scope.campaigns_write)
    campaign = await CampaignRepository(session, principal.workspace_id).get_or_raise(campaign_id)
    repository = ConversionRepository(session, principal.workspace_id)
    existing = await repository.for_contact(campaign.id, contact_id)
    if existing is not None:
        return existing
    conversion = await repository.add(
        CampaignConversion(campaign_id=campaign.id, contact_id=contact_id, value_minor=value_minor)
    )
    await _record(
        session,
        principal,
        catalog.CAMPAIGN_CONVERSION_RECORDED,
        campaign,
        contact_id=str(contact_id),
    )
    return conversion


async def queue_status(session: AsyncSession, principal: Principal) -> QueueStatus:
    """Depth and lag of the campaigns queue (shared by all workspaces: it is one set of
    workers), and how many of this workspace's campaign jobs failed for good."""
    principal.require_scope(Scope.campaigns_read)
    stats = {item.queue: item for item in await jobs.queue_stats(session)}.get(QUEUE)
    failed = await CampaignJobRepository(session, principal.workspace_id).failed(QUEUE)
    return QueueStatus(
        queue=QUEUE,
        depth=stats.depth if stats else 0,
        lag_seconds=stats.lag_seconds if stats else 0.0,
        running=stats.running if stats else 0,
        failed=failed,
    )


async def _record(
    session: AsyncSession, principal: Principal, name: str, campaign: Campaign, **extra: object
) -> None:
    await events.record(
        session,
        workspace_id=principal.workspace_id,
        user_id=principal.user_id,
        name=name,
        properties={"campaign_id": str(campaign.id), **extra},
    )
