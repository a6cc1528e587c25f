"""Automation, request side: a campaign's ordered steps (set whole, or edited one step at a
time), starting a run, conversions, recent activity, queue status.

Steps keep their ids for good, so a one-step edit writes that step's row (plus the positions of
the rows an insert, move or delete shifts) under one lock of the campaign row, and the
campaign's `steps_version` moves on: an edit that names the version it was made from is
refused (409) when another edit came in between. Edits go on while the automation runs: jobs
and deliveries name steps by id, and a contact's next step is looked up when it is due. A step
stays while a branch continues at it, contacts went through it or a job waits for it.

The worker side (one job per contact and step) is in `campaigns/tasks.py`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.campaigns.automation.models import (
    CampaignConversion,
    CampaignStep,
    StepKind,
)
from intuitivus_flow.campaigns.automation.ordering import (
    BranchProblem,
    Placed,
    branch_problems,
    moved,
)
from intuitivus_flow.campaigns.automation.repository import (
    AudienceContactRepository,
    CampaignJobRepository,
    CampaignStepRepository,
    ConversionRepository,
    DeliveryRepository,
)
from intuitivus_flow.campaigns.automation.schemas import (
    TARGETS,
    AutomationActivity,
    ContactRef,
    ConversionActivity,
    DeliveryActivity,
    QueueStatus,
    StepEntry,
    StepRead,
    StepSpec,
    targets_of,
)
from intuitivus_flow.campaigns.models import Campaign, CampaignEvent, CampaignStatus
from intuitivus_flow.campaigns.repository import CampaignEventRepository, CampaignRepository
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
STALE = "The steps were changed since this page was loaded; review them and retry"


def step_dedupe_key(step_id: uuid.UUID, contact_id: uuid.UUID) -> str:
    """One job per step and contact, ever: enqueuing the same pair again returns that job."""
    return f"campaign-step:{step_id}:{contact_id}"


# --- reading ---------------------------------------------------------------------------------


async def list_steps(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID
) -> list[StepRead]:
    principal.require_scope(Scope.campaigns_read)
    await CampaignRepository(session, principal.workspace_id).get_or_raise(campaign_id)
    steps = await CampaignStepRepository(session, principal.workspace_id).ordered(campaign_id)
    counts = await DeliveryRepository(session, principal.workspace_id).count_by_step(campaign_id)
    return [_read(step, counts.get(step.id, 0)) for step in steps]


def _read(step: CampaignStep, deliveries: int) -> StepRead:
    config: dict[str, object] = dict(step.config)
    if step.kind == StepKind.branch:
        config["if_true"] = step.if_true_step_id
        config["if_false"] = step.if_false_step_id
    return StepRead(
        id=step.id,
        position=step.position,
        kind=step.kind,
        config=config,
        deliveries=deliveries,
    )


def _settings(spec: StepSpec) -> dict[str, object]:
    """What the `config` column keeps: the settings without the kind and branch targets."""
    return spec.model_dump(mode="json", exclude={"kind", *TARGETS})


def _write(step: CampaignStep, spec: StepSpec, targets: dict[str, uuid.UUID | None]) -> None:
    step.kind = spec.kind
    step.config = _settings(spec)
    step.if_true_step_id = targets.get("if_true")
    step.if_false_step_id = targets.get("if_false")


# --- the whole list --------------------------------------------------------------------------


async def replace_steps(
    session: AsyncSession,
    principal: Principal,
    campaign_id: uuid.UUID,
    *,
    entries: Sequence[StepEntry],
    version: int | None = None,
) -> list[StepRead]:
    """Set the whole ordered list. An entry's id that is a step of the campaign keeps that
    step; any other id only names the entry for the branches of the list, and the step gets a
    new id. Once contacts went through a step the list is no longer replaced whole (their
    history hangs on those steps): edit it one step at a time."""
    principal.require_scope(Scope.campaigns_write)
    campaign = await _locked(session, principal, campaign_id, version)
    if await DeliveryRepository(session, principal.workspace_id).exists_for(campaign.id):
        raise Conflict("The automation already ran for some contacts; edit its steps one at a time")
    repository = CampaignStepRepository(session, principal.workspace_id)
    current = await repository.ordered(campaign.id)
    ids = _entry_ids(entries, {step.id for step in current})
    _check_list(entries, ids)
    await repository.remove_all(campaign.id)
    for step in current:  # deleted above; their ids may come back as new rows
        session.expunge(step)
    rows = []
    for position, (entry, step_id) in enumerate(zip(entries, ids, strict=True), start=1):
        row = CampaignStep(id=step_id, campaign_id=campaign.id, position=position)
        targets: dict[str, uuid.UUID | None] = {
            name: ids[_index_of(entries, target)] for name, target in _targets(entry)
        }
        _write(row, entry.step, targets)
        rows.append(row)
    await repository.add_many(rows)
    await _edited(session, principal, campaign, "replaced", steps=len(rows))
    return [_read(row, 0) for row in rows]


def _entry_ids(entries: Sequence[StepEntry], existing: set[uuid.UUID]) -> list[uuid.UUID]:
    seen: set[uuid.UUID] = set()
    for index, entry in enumerate(entries):
        if entry.id is not None and entry.id in seen:
            raise _invalid([(("steps", index, "id"), "Appears twice in the list")])
        if entry.id is not None:
            seen.add(entry.id)
    return [
        entry.id if entry.id is not None and entry.id in existing else uuid.uuid4()
        for entry in entries
    ]


def _targets(entry: StepEntry) -> list[tuple[str, uuid.UUID]]:
    return [(name, target) for name, target in targets_of(entry.step).items() if target]


def _index_of(entries: Sequence[StepEntry], label: uuid.UUID) -> int:
    return next(index for index, entry in enumerate(entries) if entry.id == label)


def _check_list(entries: Sequence[StepEntry], ids: Sequence[uuid.UUID]) -> None:
    labels = {entry.id: step_id for entry, step_id in zip(entries, ids, strict=True) if entry.id}
    order = [
        Placed(
            step_id,
            {
                name: labels.get(target, target) if target else None
                for name, target in targets_of(entry.step).items()
            },
        )
        for entry, step_id in zip(entries, ids, strict=True)
    ]
    problems = branch_problems(order)
    if problems:
        raise _invalid(
            [
                (("steps", problem.position - 1, "step", problem.field), problem.message)
                for problem in problems
            ]
        )


# --- one step at a time ----------------------------------------------------------------------


async def add_step(
    session: AsyncSession,
    principal: Principal,
    campaign_id: uuid.UUID,
    *,
    spec: StepSpec,
    position: int | None = None,
    version: int | None = None,
) -> StepRead:
    """Insert a step at `position` (default: at the end); later steps move down one."""
    principal.require_scope(Scope.campaigns_write)
    campaign = await _locked(session, principal, campaign_id, version)
    repository = CampaignStepRepository(session, principal.workspace_id)
    count = await repository.count_in(campaign.id)
    at = count + 1 if position is None else position
    if not 1 <= at <= count + 1:
        raise InvalidInput(f"Choose a position from 1 to {count + 1}", field="position")
    # Steps at `at` and after move down one, so "later than the new step" is "at `at` or after".
    targets = await _later_targets(repository, campaign.id, spec, after=at - 1)
    await repository.shift(campaign.id, at, count, by=1)
    step = CampaignStep(campaign_id=campaign.id, position=at)
    _write(step, spec, targets)
    await repository.add(step)
    await _edited(session, principal, campaign, "added", step_id=str(step.id))
    return _read(step, 0)


async def update_step(
    session: AsyncSession,
    principal: Principal,
    campaign_id: uuid.UUID,
    step_id: uuid.UUID,
    *,
    spec: StepSpec,
    version: int | None = None,
) -> StepRead:
    """Change one step's settings; its kind stays (add another step to change that)."""
    principal.require_scope(Scope.campaigns_write)
    campaign = await _locked(session, principal, campaign_id, version)
    repository = CampaignStepRepository(session, principal.workspace_id)
    step = await _step(repository, campaign.id, step_id)
    if spec.kind != step.kind:
        raise InvalidInput("A step keeps its kind; add a new step of the other kind instead")
    targets = await _later_targets(repository, campaign.id, spec, after=step.position)
    _write(step, spec, targets)
    await _edited(session, principal, campaign, "edited", step_id=str(step.id))
    deliveries = await DeliveryRepository(session, principal.workspace_id).count_by_step(
        campaign.id
    )
    return _read(step, deliveries.get(step.id, 0))


async def move_step(
    session: AsyncSession,
    principal: Principal,
    campaign_id: uuid.UUID,
    step_id: uuid.UUID,
    *,
    position: int,
    version: int | None = None,
) -> list[StepRead]:
    """The step to `position`; the steps in between close up. Refused when a branch would
    then continue at an earlier step."""
    principal.require_scope(Scope.campaigns_write)
    campaign = await _locked(session, principal, campaign_id, version)
    repository = CampaignStepRepository(session, principal.workspace_id)
    steps = await repository.ordered(campaign.id)
    step = next((row for row in steps if row.id == step_id), None)
    if step is None:
        raise NotFound(CampaignStepRepository.not_found_message)
    if not 1 <= position <= len(steps):
        raise InvalidInput(f"Choose a position from 1 to {len(steps)}", field="position")
    problems = branch_problems(moved([_placed(row) for row in steps], step.id, position))
    if problems:
        raise _move_refused(problems)
    await repository.move(step, position)
    await _edited(session, principal, campaign, "moved", step_id=str(step.id))
    return await list_steps(session, principal, campaign.id)


async def delete_step(
    session: AsyncSession,
    principal: Principal,
    campaign_id: uuid.UUID,
    step_id: uuid.UUID,
    *,
    version: int | None = None,
) -> None:
    """Remove a step; later steps move up one. Refused (409) while a branch continues at it
    (where those contacts go instead is a person's decision), once contacts went through it
    (its history and the "never twice" record hang on it) or while a job waits for it."""
    principal.require_scope(Scope.campaigns_write)
    campaign = await _locked(session, principal, campaign_id, version)
    workspace_id = principal.workspace_id
    repository = CampaignStepRepository(session, workspace_id)
    step = await _step(repository, campaign.id, step_id)
    branches = await repository.branches_to(step.id)
    if branches:
        raise Conflict(
            f"Step {branches[0].position} (a branch) continues at this step; "
            "change that branch first",
            errors=[_error(("steps", str(row.id)), "continues at this step") for row in branches],
        )
    if await DeliveryRepository(session, workspace_id).exists_for_step(step.id):
        raise Conflict("Contacts already went through this step; it stays with their history")
    if await CampaignJobRepository(session, workspace_id).waiting_for_step(RUN_STEP, step.id):
        raise Conflict("Contacts are waiting for this step; it stays until they are past it")
    count = await repository.count_in(campaign.id)
    await repository.delete(step)
    await repository.shift(campaign.id, step.position + 1, count, by=-1)
    await _edited(session, principal, campaign, "deleted", step_id=str(step.id))


async def _step(
    repository: CampaignStepRepository, campaign_id: uuid.UUID, step_id: uuid.UUID
) -> CampaignStep:
    step = await repository.of_campaign(campaign_id, step_id)
    if step is None:
        raise NotFound(CampaignStepRepository.not_found_message)
    return step


async def _later_targets(
    repository: CampaignStepRepository, campaign_id: uuid.UUID, spec: StepSpec, *, after: int
) -> dict[str, uuid.UUID | None]:
    """The branch's targets, each a step of the campaign at a position after `after`."""
    targets = targets_of(spec)
    for name, target in targets.items():
        if target is None:
            continue
        step = await repository.of_campaign(campaign_id, target)
        if step is None:
            raise InvalidInput("Choose a step of this campaign, or stop", field=name)
        if step.position <= after:
            raise InvalidInput("Choose a step after this one, or stop", field=name)
    return targets


def _placed(step: CampaignStep) -> Placed:
    return Placed(step.id, {"if_true": step.if_true_step_id, "if_false": step.if_false_step_id})


def _move_refused(problems: Sequence[BranchProblem]) -> InvalidInput:
    first = problems[0]
    return InvalidInput(
        f"The branch at step {first.position} would then continue at an earlier step; "
        "change that branch first",
        errors=[
            _error(("steps", str(problem.step_id), problem.field), problem.message)
            for problem in problems
        ],
    )


def _error(location: tuple[object, ...], message: str) -> dict[str, object]:
    return {"loc": list(location), "msg": message, "type": "value_error"}


def _invalid(problems: Sequence[tuple[tuple[object, ...], str]]) -> InvalidInput:
    (location, message), *_ = problems
    return InvalidInput(
        f"{'.'.join(str(part) for part in location)}: {message}",
        field=".".join(str(part) for part in location),
        errors=[_error(where, text) for where, text in problems],
    )


async def _locked(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, version: int | None
) -> Campaign:
    """The campaign, its row locked until the transaction ends: the one lock a step edit
    takes, so edits of one campaign's steps happen one after the other."""
    campaign = await CampaignRepository(session, principal.workspace_id).get_for_update(campaign_id)
    if campaign is None:
        raise NotFound(CampaignRepository.not_found_message)
    if version is not None and version != campaign.steps_version:
        raise Conflict(STALE)
    return campaign


async def _edited(
    session: AsyncSession, principal: Principal, campaign: Campaign, change: str, **extra: object
) -> None:
    campaign.steps_version += 1
    await _record(
        session, principal, catalog.CAMPAIGN_STEPS_REPLACED, campaign, change=change, **extra
    )


# --- running ---------------------------------------------------------------------------------


async def run(session: AsyncSession, principal: Principal, campaign_id: uuid.UUID) -> Job:
    """Enrol the campaign's audience: a job selects the segment and queues each contact's
    first step. Running again only adds contacts that joined the segment since."""
    principal.require_scope(Scope.campaigns_write)
    campaign = await CampaignRepository(session, principal.workspace_id).get_or_raise(campaign_id)
    if campaign.status != CampaignStatus.active:
        raise InvalidInput(
            f"The campaign is {campaign.status}; activate it to run its automation",
            field="status",
        )
    steps = await CampaignStepRepository(session, principal.workspace_id).ordered(campaign.id)
    if not steps:
        raise InvalidInput("Add steps before running the automation", field="steps")
    if campaign.agent_id is None and any(s.kind == StepKind.send_message for s in steps):
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
                step_id=row.step_id,
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
