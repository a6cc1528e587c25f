"""Automation, request side: a campaign's ordered steps (set whole, or edited one at a time),
starting a run, conversions, recent activity, status.

The worker side (one job per contact and step) is in `tasks.py`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.campaigns import editing
from intuitivus_flow.campaigns.models import (
    Campaign,
    CampaignConversion,
    CampaignEvent,
    CampaignStatus,
    CampaignStep,
    StepKind,
)
from intuitivus_flow.campaigns.repository import (
    AudienceContactRepository,
    CampaignEventRepository,
    CampaignJobRepository,
    CampaignRepository,
    CampaignStepRepository,
    ConversionRepository,
    DeliveryRepository,
)
from intuitivus_flow.campaigns.schemas import (
    AutomationActivity,
    ContactRef,
    ConversionActivity,
    DeliveryActivity,
    QueueStatus,
    StepRead,
    StepSpec,
    StepSpecs,
)
from intuitivus_flow.contacts import service as contacts
from intuitivus_flow.contacts.models import Contact
from intuitivus_flow.events import catalog
from intuitivus_flow.events import service as events
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.jobs import service as jobs
from intuitivus_flow.jobs.models import Job
from intuitivus_flow.kit.errors import Conflict, InvalidInput, NotFound
from intuitivus_flow.kit.models import utcnow

QUEUE = "campaigns"
ENROLL = "campaign.enroll"
RUN_STEP = "campaign.step"
# How many search results `find_contact` looks through for an exact match.
CONTACT_MATCHES = 20


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
    change: str | None = None,
) -> list[StepRead]:
    """Set the whole ordered list. Once contacts went through a step the list is fixed, since
    their history and queued jobs point at those steps. `change` names a one-step edit
    ("added", "edited", "moved", "deleted") in the recorded event."""
    principal.require_scope(Scope.campaigns_write)
    campaign = await _locked(session, principal, campaign_id)
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
    await _record(
        session,
        principal,
        catalog.CAMPAIGN_STEPS_REPLACED,
        campaign,
        steps=len(steps),
        **({"change": change} if change else {}),
    )
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


# --- one step at a time (the web editor) ----------------------------------------------------
# Step ids change whenever the list is stored (it is replaced whole), so an id from a page
# that is out of date is simply not in the list any more: the edit is refused, not misapplied.


async def add_step(
    session: AsyncSession,
    principal: Principal,
    campaign_id: uuid.UUID,
    *,
    spec: StepSpec,
    position: int | None = None,
) -> list[StepRead]:
    """Insert a step at `position` (default: at the end). Branch targets, the new step's
    included, name steps by their positions before the insert and keep following them."""
    current = await _current(session, principal, campaign_id)
    at = len(current) + 1 if position is None else position
    steps = editing.insert([spec for _, spec in current], spec, at=at)
    return await _store(session, principal, campaign_id, steps, edited=at, change="added")


async def update_step(
    session: AsyncSession,
    principal: Principal,
    campaign_id: uuid.UUID,
    step_id: uuid.UUID,
    *,
    spec: StepSpec,
) -> list[StepRead]:
    """Change one step's settings; its kind stays (add another step to change that)."""
    current = await _current(session, principal, campaign_id)
    position = _position_of(current, step_id)
    if spec.kind is not current[position - 1][1].kind:
        raise InvalidInput("A step keeps its kind; add a new step of the other kind instead")
    steps = editing.replace([spec for _, spec in current], position, spec)
    return await _store(session, principal, campaign_id, steps, edited=position, change="edited")


async def move_step(
    session: AsyncSession,
    principal: Principal,
    campaign_id: uuid.UUID,
    step_id: uuid.UUID,
    *,
    position: int,
) -> list[StepRead]:
    current = await _current(session, principal, campaign_id)
    steps = editing.move([s for _, s in current], _position_of(current, step_id), to=position)
    return await _store(session, principal, campaign_id, steps, edited=None, change="moved")


async def delete_step(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, step_id: uuid.UUID
) -> list[StepRead]:
    current = await _current(session, principal, campaign_id)
    steps = editing.remove([s for _, s in current], _position_of(current, step_id))
    return await _store(session, principal, campaign_id, steps, edited=None, change="deleted")


async def _current(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID
) -> list[tuple[uuid.UUID, StepSpec]]:
    principal.require_scope(Scope.campaigns_write)
    # Locked first: a concurrent edit waits, then finds its step ids gone (a clean Conflict)
    # instead of both storing a list built from the same old one.
    await _locked(session, principal, campaign_id)
    steps = await CampaignStepRepository(session, principal.workspace_id).ordered(campaign_id)
    specs = StepSpecs.validate_python([{"kind": step.kind, **step.config} for step in steps])
    return [(step.id, spec) for step, spec in zip(steps, specs, strict=True)]


async def _locked(session: AsyncSession, principal: Principal, campaign_id: uuid.UUID) -> Campaign:
    campaign = await CampaignRepository(session, principal.workspace_id).get_for_update(campaign_id)
    if campaign is None:
        raise NotFound(CampaignRepository.not_found_message)
    return campaign


def _position_of(current: Sequence[tuple[uuid.UUID, StepSpec]], step_id: uuid.UUID) -> int:
    for position, (existing, _) in enumerate(current, start=1):
        if existing == step_id:
            return position
    raise Conflict("The steps were changed since this page was loaded; review them and retry")


async def _store(
    session: AsyncSession,
    principal: Principal,
    campaign_id: uuid.UUID,
    steps: Sequence[StepSpec],
    *,
    edited: int | None,
    change: str,
) -> list[StepRead]:
    try:
        return await replace_steps(session, principal, campaign_id, steps=steps, change=change)
    except InvalidInput as error:
        clearer = _about_one_step(error, edited)
        if clearer is None:
            raise
        raise clearer from error


def _about_one_step(error: InvalidInput, edited: int | None) -> InvalidInput | None:
    """A branch-target error in the terms of a one-step edit: the edited step's own field
    ("if_true"), or which branch a move would break, not a path into the stored list."""
    found = re.fullmatch(r"steps\.(\d+)\.(if_true|if_false)", str(error.extra.get("field", "")))
    if found is None:
        return None
    position, name = int(found.group(1)) + 1, found.group(2)
    if position == edited:
        return InvalidInput("Choose a step after this one, or stop", field=name)
    return InvalidInput(
        f"The branch at step {position} would then continue at an earlier step; "
        "change that branch first"
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


async def find_contact(session: AsyncSession, principal: Principal, reference: str) -> Contact:
    """The contact a person names in a form: by id, or by phone, email or name (an exact
    match wins; otherwise the search must find exactly one)."""
    text = reference.strip()
    if not text:
        raise InvalidInput("Name the contact: phone, email or name", field="contact")
    contact_id = _as_id(text)
    if contact_id is not None:
        try:
            return await contacts.get(session, principal, contact_id)
        except NotFound:
            raise InvalidInput("No contact has this id", field="contact") from None
    found = (
        await contacts.list_contacts(
            session, principal, search=text, limit=CONTACT_MATCHES, offset=0
        )
    ).items
    exact = [contact for contact in found if _names_exactly(contact, text)]
    matches = exact or found
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise InvalidInput(f"No contact matches “{text}”", field="contact")
    raise InvalidInput(
        f"Several contacts match “{text}”; give the phone number or email", field="contact"
    )


def _as_id(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _names_exactly(contact: Contact, text: str) -> bool:
    wanted = text.casefold()
    return wanted in {
        (contact.phone or "").casefold(),
        (contact.email or "").casefold(),
        contact.name.casefold(),
    }


async def activity(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, *, limit: int = 20
) -> AutomationActivity:
    """The newest step deliveries and conversions, with the contacts they were for."""
    principal.require_scope(Scope.campaigns_read)
    workspace_id = principal.workspace_id
    await CampaignRepository(session, workspace_id).get_or_raise(campaign_id)
    deliveries = await DeliveryRepository(session, workspace_id).recent(campaign_id, limit=limit)
    conversions = await ConversionRepository(session, workspace_id).recent(campaign_id, limit=limit)
    steps = {
        step.id: step
        for step in await CampaignStepRepository(session, workspace_id).ordered(campaign_id)
    }
    people = await AudienceContactRepository(session, workspace_id).by_ids(
        [row.contact_id for row in deliveries] + [row.contact_id for row in conversions]
    )
    return AutomationActivity(
        deliveries=[
            DeliveryActivity(
                step_position=steps[row.step_id].position,
                step_kind=StepKind(steps[row.step_id].kind),
                contact=_contact_ref(row.contact_id, people),
                status=row.status,
                detail=row.detail,
                created_at=row.created_at,
            )
            for row in deliveries
            if row.step_id in steps
        ],
        conversions=[
            ConversionActivity(
                contact=_contact_ref(row.contact_id, people),
                value_minor=row.value_minor,
                created_at=row.created_at,
            )
            for row in conversions
        ],
    )


def _contact_ref(contact_id: uuid.UUID, people: dict[uuid.UUID, Contact]) -> ContactRef:
    contact = people.get(contact_id)
    if contact is None:  # deleted since; its history stays (no foreign key, see the model)
        return ContactRef(id=contact_id, name="")
    return ContactRef(id=contact_id, name=contact.name, phone=contact.phone)


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
