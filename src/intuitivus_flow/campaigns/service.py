"""Campaigns: CRUD, validated status transitions, performance reports and budget auto-pause.

Two budgets pause an active campaign by themselves when a report shows the spend reaching them:
the total budget (it stays paused until a person raises the budget and activates it) and the
daily budget, counted on the current UTC day (it resumes by itself once the next UTC day began,
through `resume_after_daily_budget`, run by the hourly job in `tasks.py`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.agents.repository import AgentRepository
from intuitivus_flow.campaigns.metrics import derive, ratio
from intuitivus_flow.campaigns.models import (
    Campaign,
    CampaignEvent,
    CampaignReport,
    CampaignStatus,
    PauseReason,
    Platform,
)
from intuitivus_flow.campaigns.reports import AdPlatformReports
from intuitivus_flow.campaigns.repository import (
    CampaignEventRepository,
    CampaignReportRepository,
    CampaignRepository,
    DailyBudgetPauseLookup,
    Totals,
)
from intuitivus_flow.campaigns.schemas import (
    CampaignCreate,
    CampaignRead,
    CampaignSummary,
    CampaignUpdate,
    DailyMetrics,
    Performance,
)
from intuitivus_flow.events import catalog
from intuitivus_flow.events import service as events
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import Conflict, InvalidInput
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.kit.repository import Page

S = CampaignStatus
FINAL = frozenset({S.completed, S.cancelled})
# draft -> scheduled -> active <-> paused -> completed; cancelled from any non-final state.
ALLOWED_TRANSITIONS: dict[CampaignStatus, frozenset[CampaignStatus]] = {
    S.draft: frozenset({S.scheduled, S.cancelled}),
    S.scheduled: frozenset({S.active, S.cancelled}),
    S.active: frozenset({S.paused, S.completed, S.cancelled}),
    S.paused: frozenset({S.active, S.completed, S.cancelled}),
    S.completed: frozenset(),
    S.cancelled: frozenset(),
}
BUDGET_REACHED = PauseReason.budget_reached
DAILY_BUDGET = PauseReason.daily_budget


# --- CRUD ----------------------------------------------------------------------------------------


async def create(session: AsyncSession, principal: Principal, *, data: CampaignCreate) -> Campaign:
    principal.require_scope(Scope.campaigns_write)
    await _check_agent(session, principal.workspace_id, data.agent_id)
    fields = data.model_dump(mode="json")
    fields["starts_at"], fields["ends_at"] = data.starts_at, data.ends_at
    fields["agent_id"] = data.agent_id
    campaign = Campaign(**fields)
    _check_consistency(campaign)
    campaign = await CampaignRepository(session, principal.workspace_id).add(campaign)
    await _record(
        session, principal, catalog.CAMPAIGN_CREATED, campaign, platform=campaign.platform
    )
    return campaign


async def list_campaigns(
    session: AsyncSession,
    principal: Principal,
    *,
    status: CampaignStatus | None,
    platform: Platform | None,
    limit: int,
    offset: int,
) -> Page[CampaignSummary]:
    principal.require_scope(Scope.campaigns_read)
    repository = CampaignRepository(session, principal.workspace_id)
    page = await repository.paginate(
        repository.listing(status=status, platform=platform),
        limit=limit,
        offset=offset,
    )
    return Page(
        items=await summarize(session, principal.workspace_id, page.items),
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


async def summarize(
    session: AsyncSession, workspace_id: uuid.UUID, campaigns: Sequence[Campaign]
) -> list[CampaignSummary]:
    """Campaigns with their spend, revenue and derived ratios (one query for all of them)."""
    totals = await CampaignReportRepository(session, workspace_id).totals(
        [campaign.id for campaign in campaigns]
    )
    return [_summary(campaign, totals.get(campaign.id, Totals())) for campaign in campaigns]


def _summary(campaign: Campaign, totals: Totals) -> CampaignSummary:
    read = CampaignRead.model_validate(campaign)
    return CampaignSummary(**read.model_dump(), metrics=derive(totals))


async def get(session: AsyncSession, principal: Principal, campaign_id: uuid.UUID) -> Campaign:
    principal.require_scope(Scope.campaigns_read)
    return await CampaignRepository(session, principal.workspace_id).get_or_raise(campaign_id)


async def get_summary(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID
) -> CampaignSummary:
    campaign = await get(session, principal, campaign_id)
    (summary,) = await summarize(session, principal.workspace_id, [campaign])
    return summary


async def update(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, *, changes: CampaignUpdate
) -> Campaign:
    principal.require_scope(Scope.campaigns_write)
    campaign = await CampaignRepository(session, principal.workspace_id).get_or_raise(campaign_id)
    if S(campaign.status) in FINAL:
        raise Conflict(f"A {campaign.status} campaign can no longer be changed")
    fields = changes.model_dump(mode="json", exclude_unset=True)
    for name in ("name", "platform", "currency", "targeting", "creatives", "audience_tags"):
        if name in fields and fields[name] is None:
            raise InvalidInput(f"{name} cannot be null", field=name)
    if "agent_id" in fields:
        await _check_agent(session, principal.workspace_id, changes.agent_id)
        fields["agent_id"] = changes.agent_id
    if "currency" in fields and fields["currency"] != campaign.currency:
        await _refuse_currency_change(session, principal.workspace_id, campaign)
    for name in ("starts_at", "ends_at"):
        if name in fields:
            fields[name] = getattr(changes, name)
    for name, value in fields.items():
        setattr(campaign, name, value)
    _check_consistency(campaign)
    await _record(session, principal, catalog.CAMPAIGN_UPDATED, campaign, changed=sorted(fields))
    return campaign


async def delete(session: AsyncSession, principal: Principal, campaign_id: uuid.UUID) -> None:
    principal.require_scope(Scope.campaigns_write)
    repository = CampaignRepository(session, principal.workspace_id)
    campaign = await repository.get_or_raise(campaign_id)
    if campaign.status == S.active:
        raise Conflict("Pause or cancel the campaign before deleting it")
    await _record(session, principal, catalog.CAMPAIGN_DELETED, campaign)
    await repository.delete(campaign)


async def _check_agent(
    session: AsyncSession, workspace_id: uuid.UUID, agent_id: uuid.UUID | None
) -> None:
    if agent_id is not None and await AgentRepository(session, workspace_id).get(agent_id) is None:
        raise InvalidInput("No such agent in this workspace", field="agent_id")


async def _refuse_currency_change(
    session: AsyncSession, workspace_id: uuid.UUID, campaign: Campaign
) -> None:
    # Reports are stored in minor units of the campaign's currency; switching would misread them.
    if await CampaignReportRepository(session, workspace_id).reported_dates(campaign.id):
        raise InvalidInput("The currency cannot change once reports exist", field="currency")


def _check_consistency(campaign: Campaign) -> None:
    total, daily = campaign.total_budget_minor, campaign.daily_budget_minor
    if total is not None and daily is not None and daily > total:
        raise InvalidInput(
            "The daily budget cannot exceed the total budget", field="daily_budget_minor"
        )
    if campaign.starts_at and campaign.ends_at and campaign.ends_at <= campaign.starts_at:
        raise InvalidInput("The campaign must end after it starts", field="ends_at")


# --- status --------------------------------------------------------------------------------------


async def change_status(
    session: AsyncSession,
    principal: Principal,
    campaign_id: uuid.UUID,
    *,
    status: CampaignStatus,
    reason: str | None = None,
) -> Campaign:
    principal.require_scope(Scope.campaigns_write)
    campaign = await CampaignRepository(session, principal.workspace_id).get_or_raise(campaign_id)
    current = S(campaign.status)
    if status is current:
        if status is S.paused and campaign.pause_reason is not None:
            # Pausing what the system paused makes it a person's pause: no automatic resume.
            await _transition(
                session,
                campaign,
                S.paused,
                reason=reason or "kept paused by a person",
                user_id=principal.user_id,
            )
        return campaign
    if status not in ALLOWED_TRANSITIONS[current]:
        raise InvalidInput(
            f"A {current.value} campaign cannot become {status.value}"
            + (
                f" (allowed: {_listed(ALLOWED_TRANSITIONS[current])})"
                if current not in FINAL
                else ""
            ),
            field="status",
        )
    await _check_preconditions(session, principal.workspace_id, campaign, status)
    await _transition(session, campaign, status, reason=reason, user_id=principal.user_id)
    return campaign


def _listed(statuses: frozenset[CampaignStatus]) -> str:
    return ", ".join(sorted(status.value for status in statuses))


async def _check_preconditions(
    session: AsyncSession, workspace_id: uuid.UUID, campaign: Campaign, status: CampaignStatus
) -> None:
    if status is S.scheduled and campaign.starts_at is None:
        raise InvalidInput("Set starts_at before scheduling the campaign", field="starts_at")
    if status is not S.active:
        return
    reports = CampaignReportRepository(session, workspace_id)
    if campaign.total_budget_minor is not None:
        totals = await reports.total_for(campaign.id)
        if totals.spend_minor >= campaign.total_budget_minor:
            raise InvalidInput(
                "The campaign has spent its total budget; raise the budget to resume it",
                field="status",
            )
    if campaign.daily_budget_minor is not None:
        spent_today = await reports.spend_on(campaign.id, _utc_day(utcnow()))
        if spent_today >= campaign.daily_budget_minor:
            raise InvalidInput(
                "The campaign has spent today's daily budget; raise the daily budget to resume "
                "it today",
                field="status",
            )


async def _transition(
    session: AsyncSession,
    campaign: Campaign,
    status: CampaignStatus,
    *,
    reason: str | None,
    user_id: uuid.UUID | None,
    pause_reason: PauseReason | None = None,
    resume_at: datetime | None = None,
) -> None:
    previous = campaign.status
    campaign.status = status
    # Only the system's own pauses carry these; any other change (a person's included) ends them.
    campaign.pause_reason = pause_reason
    campaign.resume_at = resume_at
    await CampaignEventRepository(session, campaign.workspace_id).add(
        CampaignEvent(
            campaign_id=campaign.id,
            kind="status_changed",
            from_status=previous,
            to_status=status,
            reason=reason,
            user_id=user_id,
        )
    )
    await events.record(
        session,
        workspace_id=campaign.workspace_id,
        user_id=user_id,
        name=catalog.CAMPAIGN_STATUS_CHANGED,
        properties={
            "campaign_id": str(campaign.id),
            "from": previous,
            "to": status.value,
            **({"reason": reason} if reason else {}),
        },
    )


async def timeline(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, *, limit: int, offset: int
) -> Page[CampaignEvent]:
    principal.require_scope(Scope.campaigns_read)
    await CampaignRepository(session, principal.workspace_id).get_or_raise(campaign_id)
    repository = CampaignEventRepository(session, principal.workspace_id)
    return await repository.paginate(repository.timeline(campaign_id), limit=limit, offset=offset)


# --- performance ---------------------------------------------------------------------------------


async def ingest(
    session: AsyncSession,
    principal: Principal,
    campaign_id: uuid.UUID,
    *,
    source: AdPlatformReports,
    now: datetime | None = None,
) -> tuple[int, Campaign]:
    """Validate every row first, then store them all (a day reported again is replaced).

    A campaign whose spend reaches its total budget, or whose spend on the current UTC day
    (`now`) reaches its daily budget, pauses itself, with the reason recorded.
    """
    principal.require_scope(Scope.campaigns_write)
    campaign = await CampaignRepository(session, principal.workspace_id).get_or_raise(campaign_id)
    rows = await source.fetch(currency=campaign.currency)
    reports = CampaignReportRepository(session, principal.workspace_id)
    await reports.replace_days(
        campaign.id,
        [
            CampaignReport(
                campaign_id=campaign.id,
                report_date=row.date,
                impressions=row.impressions,
                clicks=row.clicks,
                conversions=row.conversions,
                spend_minor=row.spend_minor,
                revenue_minor=row.revenue_minor,
                source=source.source,
            )
            for row in rows
        ],
    )
    await _record(
        session,
        principal,
        catalog.CAMPAIGN_REPORT_INGESTED,
        campaign,
        rows=len(rows),
        source=source.source,
    )
    moment = now or utcnow()
    if not await pause_when_budget_reached(session, campaign, await reports.total_for(campaign.id)):
        spent_today = await reports.spend_on(campaign.id, _utc_day(moment))
        await pause_when_daily_budget_reached(session, campaign, spent_today, now=moment)
    return len(rows), campaign


async def pause_when_budget_reached(
    session: AsyncSession, campaign: Campaign, totals: Totals
) -> bool:
    budget = campaign.total_budget_minor
    if campaign.status != S.active or budget is None or totals.spend_minor < budget:
        return False
    reason = (
        f"{BUDGET_REACHED}: spend {totals.spend_minor} reached the total budget {budget} "
        f"({campaign.currency} minor units)"
    )
    await _transition(
        session,
        campaign,
        S.paused,
        reason=reason,
        user_id=None,
        pause_reason=PauseReason.budget_reached,
    )
    return True


async def pause_when_daily_budget_reached(
    session: AsyncSession, campaign: Campaign, spent_today: int, *, now: datetime
) -> bool:
    """Pause an active campaign whose spend on `now`'s UTC day reached its daily budget,
    until the start of the next UTC day."""
    budget = campaign.daily_budget_minor
    if campaign.status != S.active or budget is None or spent_today < budget:
        return False
    day = _utc_day(now)
    resume_at = _start_of_next_utc_day(now)
    reason = (
        f"{DAILY_BUDGET}: spend {spent_today} on {day.isoformat()} reached the daily budget "
        f"{budget} ({campaign.currency} minor units); resumes after {resume_at:%Y-%m-%d %H:%M} UTC"
    )
    await _transition(
        session,
        campaign,
        S.paused,
        reason=reason,
        user_id=None,
        pause_reason=PauseReason.daily_budget,
        resume_at=resume_at,
    )
    return True


async def resume_after_daily_budget(session: AsyncSession, *, now: datetime) -> list[Campaign]:
    """Activate again every campaign (of any workspace) paused for its daily budget whose
    pause ran out by `now`, unless its total budget is spent or today's report already
    shows the new day's budget spent. Returns the campaigns it resumed."""
    resumed = []
    for workspace_id, campaign_id in await DailyBudgetPauseLookup(session).due(now):
        # Locked and looked at again: a person may have acted since the lookup.
        campaign = await CampaignRepository(session, workspace_id).get_for_update(campaign_id)
        if campaign is None or campaign.pause_reason != DAILY_BUDGET:
            continue
        if await _resume_within_budgets(session, campaign, now=now):
            resumed.append(campaign)
    return resumed


async def _resume_within_budgets(
    session: AsyncSession, campaign: Campaign, *, now: datetime
) -> bool:
    reports = CampaignReportRepository(session, campaign.workspace_id)
    total = campaign.total_budget_minor
    if total is not None and (await reports.total_for(campaign.id)).spend_minor >= total:
        # A late report spent the total budget during the pause. It stays paused (and is
        # looked at again each run), so raising the total budget lets the next run resume it.
        return False
    day = _utc_day(now)
    daily = campaign.daily_budget_minor
    if daily is not None and await reports.spend_on(campaign.id, day) >= daily:
        campaign.resume_at = _start_of_next_utc_day(now)  # the new day is spent already
        return False
    reason = f"{DAILY_BUDGET}: a new UTC day ({day.isoformat()}) began"
    await _transition(session, campaign, S.active, reason=reason, user_id=None)
    return True


def _utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _start_of_next_utc_day(moment: datetime) -> datetime:
    return datetime.combine(_utc_day(moment) + timedelta(days=1), time(), tzinfo=UTC)


async def performance(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID
) -> Performance:
    principal.require_scope(Scope.campaigns_read)
    campaign = await CampaignRepository(session, principal.workspace_id).get_or_raise(campaign_id)
    days = await CampaignReportRepository(session, principal.workspace_id).days(campaign.id)
    daily = [
        DailyMetrics(
            date=day.report_date,
            **derive(
                Totals(
                    day.impressions, day.clicks, day.conversions, day.spend_minor, day.revenue_minor
                )
            ).model_dump(),
        )
        for day in days
    ]
    total = derive(
        Totals(
            sum(day.impressions for day in days),
            sum(day.clicks for day in days),
            sum(day.conversions for day in days),
            sum(day.spend_minor for day in days),
            sum(day.revenue_minor for day in days),
        )
    )
    budget = campaign.total_budget_minor
    return Performance(
        campaign_id=campaign.id,
        currency=campaign.currency,
        total=total,
        budget_used_ratio=ratio(total.spend_minor, budget) if budget is not None else None,
        days=daily,
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
