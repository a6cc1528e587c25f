"""Automation, worker side: enrolment and one job per (step, contact) on the "campaigns" queue.

Exactly-once effects on an at-least-once queue:
- a job per pair is enqueued with the dedupe key `campaign-step:<step>:<contact>`;
- the handler first inserts the pair's `campaign_step_deliveries` row (UNIQUE step, contact),
  then sends with the same key as idempotency key, then queues the contact's next step; all of
  it commits with the job's fenced completion, or none of it does;
- a second run for the pair (a racing worker, or a new worker after one died mid-step) cannot
  insert the row again and stops there; on PostgreSQL it waits for the first run's transaction
  and goes ahead only if that one rolled back.
Waits are the next step's job with a future `run_at`; a paused campaign defers its jobs.

Campaigns paused for their daily budget are activated again by `resume_daily_budget`, a
periodic job (hourly: a pause ends within the first hour of the next UTC day).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.campaigns import service as campaigns
from intuitivus_flow.campaigns.automation.repository import (
    CampaignStepRepository,
    ConversionRepository,
    DeliveryRepository,
)
from intuitivus_flow.campaigns.automation.senders import (
    CampaignSender,
    MessageQuotaReached,
    SendSkipped,
    TemplateMessage,
    TextMessage,
    sender_from_settings,
)
from intuitivus_flow.campaigns.automation.service import ENROLL, QUEUE, RUN_STEP, step_dedupe_key
from intuitivus_flow.campaigns.models import (
    Campaign,
    CampaignStatus,
    CampaignStep,
    CampaignStepDelivery,
    DeliveryStatus,
    StepKind,
)
from intuitivus_flow.campaigns.repository import CampaignRepository
from intuitivus_flow.jobs import service as jobs
from intuitivus_flow.jobs.context import JobContext
from intuitivus_flow.jobs.models import Job
from intuitivus_flow.jobs.registry import TaskList
from intuitivus_flow.jobs.worker import JobDeferred, PermanentJobError
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.observability.metrics import get_metrics

# How often a job of a paused (or not yet active) campaign looks again.
RECHECK_HELD = timedelta(minutes=1)
STEP_MAX_ATTEMPTS = 6
FINAL = {CampaignStatus.completed, CampaignStatus.cancelled}
RESUME_DAILY_BUDGET = "campaigns.resume_daily_budget"
RESUME_INTERVAL = timedelta(hours=1)


def declare(sender: CampaignSender | None = None) -> TaskList:
    """The campaigns' tasks. Each job sends through the channel its worker's settings configure
    (`FLOW_CAMPAIGN_SENDER`), unless `sender` replaces it (tests, drills)."""
    tasks = TaskList("campaigns")

    def engine(job: JobContext) -> Engine:
        return Engine(sender or sender_from_settings(job.settings))

    @tasks.task(ENROLL, queue=QUEUE)
    async def enroll(job: JobContext) -> dict[str, Any]:
        return await engine(job).enroll(job.session, job.job)

    @tasks.task(RUN_STEP, queue=QUEUE)
    async def run_step(job: JobContext) -> dict[str, Any]:
        return await engine(job).run_step(job.session, job.job)

    @tasks.periodic(RESUME_DAILY_BUDGET, every=RESUME_INTERVAL)
    async def resume_daily_budget(job: JobContext) -> dict[str, Any]:
        """Activate the campaigns whose daily-budget pause ran out (every workspace's)."""
        resumed = await campaigns.resume_after_daily_budget(job.session, now=job.now())
        return {"resumed": [str(campaign.id) for campaign in resumed]}

    return tasks


TASKS = declare()


@dataclass(frozen=True, slots=True)
class StepJob:
    workspace_id: uuid.UUID
    campaign_id: uuid.UUID
    step_id: uuid.UUID
    contact_id: uuid.UUID

    @classmethod
    def of(cls, job: Job) -> StepJob:
        if job.workspace_id is None:
            raise PermanentJobError("campaign job without a workspace")
        try:
            return cls(
                job.workspace_id,
                uuid.UUID(str(job.payload["campaign_id"])),
                uuid.UUID(str(job.payload["step_id"])),
                uuid.UUID(str(job.payload["contact_id"])),
            )
        except (KeyError, ValueError) as exc:
            raise PermanentJobError(f"bad campaign step payload: {exc}") from None


class Engine:
    def __init__(self, sender: CampaignSender) -> None:
        self.sender = sender

    async def enroll(self, session: AsyncSession, job: Job) -> dict[str, Any]:
        """Queue the first step for every contact of the campaign's audience."""
        campaign = await _campaign(session, job.workspace_id, job.payload.get("campaign_id"))
        if campaign.status in FINAL:
            return {"status": campaign.status}
        _defer_unless_active(campaign)
        first = await CampaignStepRepository(session, campaign.workspace_id).at_position(
            campaign.id, 1
        )
        if first is None:
            return {"status": "no_steps"}
        contacts = await self.sender.select_segment(
            session, campaign.workspace_id, tags=campaign.audience_tags
        )
        for contact_id in contacts:
            await _enqueue_step(session, campaign, first, contact_id, run_at=utcnow())
        return {"status": "enrolled", "contacts": len(contacts)}

    async def run_step(self, session: AsyncSession, job: Job) -> dict[str, Any]:
        ref = StepJob.of(job)
        campaign = await _campaign(session, ref.workspace_id, str(ref.campaign_id))
        step = await CampaignStepRepository(session, ref.workspace_id).get(ref.step_id)
        if step is None:
            return {"status": "step_removed"}
        if campaign.status in FINAL:
            return {"status": campaign.status}
        _defer_unless_active(campaign)
        delivery = await DeliveryRepository(session, ref.workspace_id).claim(
            campaign_id=campaign.id, step_id=step.id, contact_id=ref.contact_id
        )
        if delivery is None:
            return {"status": "already_done"}  # a racing or earlier run did it and committed
        following, run_at = await self._perform(session, campaign, step, delivery)
        if following is not None:
            await self._queue_next(session, campaign, following, ref.contact_id, run_at)
        await session.flush()
        return {"status": delivery.status, **delivery.detail}

    async def _perform(
        self,
        session: AsyncSession,
        campaign: Campaign,
        step: CampaignStep,
        delivery: CampaignStepDelivery,
    ) -> tuple[int | uuid.UUID | None, datetime]:
        """Do the step; return where the contact goes next and when: the position after this
        step's (as the steps are ordered now), a branch's target step, or None (the end)."""
        kind, config, now = StepKind(step.kind), step.config, utcnow()
        if kind is StepKind.wait:
            delivery.status = DeliveryStatus.waited
            return step.position + 1, now + timedelta(seconds=int(config["seconds"]))
        if kind is StepKind.branch:
            outcome = await self._evaluate(session, campaign, delivery.contact_id, config["on"])
            delivery.status = DeliveryStatus.branched
            delivery.detail = {"on": config["on"], "result": outcome}
            return (step.if_true_step_id if outcome else step.if_false_step_id), now
        try:
            message_id = await self._send(session, campaign, step, delivery.contact_id)
        except SendSkipped as skipped:
            counted_as = "message_quota" if isinstance(skipped, MessageQuotaReached) else "skipped"
            get_metrics().campaign_sends_total.labels(
                channel=campaign.platform, outcome=counted_as
            ).inc()
            delivery.status, delivery.detail = (
                DeliveryStatus.skipped,
                {"reason": str(skipped)},
            )
            return None, now
        get_metrics().campaign_sends_total.labels(channel=campaign.platform, outcome="sent").inc()
        delivery.status, delivery.detail = DeliveryStatus.sent, {"message_id": message_id}
        return step.position + 1, now

    async def _send(
        self, session: AsyncSession, campaign: Campaign, step: CampaignStep, contact_id: uuid.UUID
    ) -> str:
        common: dict[str, Any] = {
            "workspace_id": campaign.workspace_id,
            "campaign_id": campaign.id,
            "step_id": step.id,
            "contact_id": contact_id,
            "agent_id": campaign.agent_id,
            "idempotency_key": step_dedupe_key(step.id, contact_id),
        }
        config = step.config
        if step.kind == StepKind.send_template:
            return await self.sender.send_template(
                session,
                TemplateMessage(
                    template=str(config["template"]),
                    language=str(config.get("language", "en")),
                    parameters=tuple(config.get("parameters", ())),
                    **common,
                ),
            )
        if campaign.agent_id is None:
            raise PermanentJobError("message steps need the campaign's assigned agent")
        return await self.sender.send_text(session, TextMessage(text=str(config["text"]), **common))

    async def _evaluate(
        self, session: AsyncSession, campaign: Campaign, contact_id: uuid.UUID, on: str
    ) -> bool:
        if on == "conversion":
            conversions = ConversionRepository(session, campaign.workspace_id)
            return await conversions.for_contact(campaign.id, contact_id) is not None
        first = await DeliveryRepository(session, campaign.workspace_id).first_for_contact(
            campaign.id, contact_id
        )
        since = first.created_at if first else campaign.automation_started_at or utcnow()
        return await self.sender.has_replied(
            session, campaign.workspace_id, contact_id, since=since
        )

    async def _queue_next(
        self,
        session: AsyncSession,
        campaign: Campaign,
        following: int | uuid.UUID,
        contact_id: uuid.UUID,
        run_at: datetime,
    ) -> None:
        steps = CampaignStepRepository(session, campaign.workspace_id)
        if isinstance(following, uuid.UUID):
            step = await steps.of_campaign(campaign.id, following)
        else:
            step = await steps.at_position(campaign.id, following)
        if step is not None:  # past the last step: the journey is over
            await _enqueue_step(session, campaign, step, contact_id, run_at=run_at)


async def _enqueue_step(
    session: AsyncSession,
    campaign: Campaign,
    step: CampaignStep,
    contact_id: uuid.UUID,
    *,
    run_at: datetime,
) -> None:
    await jobs.enqueue(
        session,
        kind=RUN_STEP,
        payload={
            "campaign_id": str(campaign.id),
            "step_id": str(step.id),
            "contact_id": str(contact_id),
        },
        workspace_id=campaign.workspace_id,
        queue=QUEUE,
        run_at=run_at,
        dedupe_key=step_dedupe_key(step.id, contact_id),
        max_attempts=STEP_MAX_ATTEMPTS,
    )


async def _campaign(
    session: AsyncSession, workspace_id: uuid.UUID | None, campaign_id: object
) -> Campaign:
    if workspace_id is None:
        raise PermanentJobError("campaign job without a workspace")
    try:
        identifier = uuid.UUID(str(campaign_id))
    except ValueError:
        raise PermanentJobError("bad campaign id in the job") from None
    campaign = await CampaignRepository(session, workspace_id).get(identifier)
    if campaign is None:
        raise PermanentJobError("the campaign no longer exists")
    return campaign


def _defer_unless_active(campaign: Campaign) -> None:
    if campaign.status != CampaignStatus.active:
        raise JobDeferred(utcnow() + RECHECK_HELD, f"campaign is {campaign.status}")
