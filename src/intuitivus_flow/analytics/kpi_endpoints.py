"""KPI, CLV and KPI-goal routes under `/api/analytics/` (docs/analytics.md)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import AwareDatetime

from intuitivus_flow.analytics import goals_service, kpis_service
from intuitivus_flow.analytics.kpi_schemas import (
    BgNbdRead,
    ChurnRead,
    ContactPredictionRead,
    ContactsClvRead,
    FeatureAdoption,
    GammaGammaRead,
    GoalCreate,
    GoalRead,
    MrrMovementsRead,
    PlatformKpis,
    PlatformMonthRead,
    WorkspaceKpis,
    WorkspaceMonthRead,
)
from intuitivus_flow.identity.http import CurrentPrincipal
from intuitivus_flow.identity.requirements import requires
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import Forbidden, InvalidInput, NotFound
from intuitivus_flow.kit.http.deps import Context, DbSession
from intuitivus_flow.kit.http.openapi import route_errors

router = APIRouter(prefix="/api/analytics", tags=["analytics"])

Month = Annotated[
    date | None, Query(description="A day of the newest month shown (default: today)")
]
Months = Annotated[int, Query(ge=1, le=kpis_service.MAX_MONTHS, description="Months shown")]


def platform_body(report: kpis_service.PlatformReport) -> PlatformKpis:
    return PlatformKpis(
        currency=report.currency,
        months=[
            PlatformMonthRead(
                month=m.month.date(),
                mrr=m.movements.end_mrr,
                movements=MrrMovementsRead.model_validate(m.movements, from_attributes=True),
                churn=ChurnRead.model_validate(m.churn, from_attributes=True),
                arpa=m.arpa,
                arpu=m.arpu,
                trial_conversion=m.trial_conversion,
                subscription_clv=m.subscription_clv,
            )
            for m in report.months
        ],
    )


def workspace_body(report: kpis_service.WorkspaceReport) -> WorkspaceKpis:
    return WorkspaceKpis(
        months=[
            WorkspaceMonthRead(
                month=m.month.date(),
                contacts=m.funnel.contacts,
                customers=m.funnel.customers,
                revenue_minor=m.funnel.revenue_minor,
                contact_to_customer=m.funnel.contact_to_customer,
                revenue_per_customer=m.funnel.revenue_per_customer,
            )
            for m in report.months
        ]
    )


def clv_body(result: kpis_service.ContactsClv, horizon_weeks: float, limit: int) -> ContactsClvRead:
    fit = result.fit
    return ContactsClvRead(
        calibration_end=result.calibration_end,
        horizon_weeks=horizon_weeks,
        customers=result.customers,
        problem=result.problem,
        bgnbd=None if fit is None else BgNbdRead.model_validate(fit.bgnbd, from_attributes=True),
        gamma_gamma=None
        if fit is None or fit.gamma_gamma is None
        else GammaGammaRead.model_validate(fit.gamma_gamma, from_attributes=True),
        contacts=[
            ContactPredictionRead(
                contact_id=row.customer_id,
                frequency=row.frequency,
                recency_weeks=row.recency,
                age_weeks=row.T,
                p_alive=row.p_alive,
                expected_purchases=row.expected_purchases,
                expected_spend_minor=row.expected_spend,
            )
            for row in result.predictions[:limit]
        ],
    )


@router.get(
    "/kpis",
    openapi_extra=route_errors(InvalidInput),
    dependencies=[requires(Scope.events_read)],
    response_model=WorkspaceKpis,
    summary="The workspace's marketing KPIs, month by month",
)
async def get_workspace_kpis(
    session: DbSession, principal: CurrentPrincipal, month: Month = None, months: Months = 12
) -> WorkspaceKpis:
    """Contacts created, new customers (first campaign conversion), contact -> customer
    conversion, revenue and revenue per new customer, per calendar month (UTC)."""
    report = await kpis_service.workspace_report(
        session, principal, last=month or datetime.now(UTC).date(), months=months
    )
    return workspace_body(report)


@router.get(
    "/kpis/platform",
    openapi_extra=route_errors(Forbidden, InvalidInput),
    dependencies=[requires(Scope.operations_read)],
    response_model=PlatformKpis,
    summary="The platform's business KPIs, month by month (operators)",
)
async def get_platform_kpis(
    session: DbSession,
    principal: CurrentPrincipal,
    context: Context,
    month: Month = None,
    months: Months = 12,
    currency: Annotated[
        str | None, Query(pattern="^[A-Z]{3}$", description="Default: the most invoiced")
    ] = None,
) -> PlatformKpis:
    """MRR and its movements, customer and revenue churn (ChartMogul's and Stripe's
    formulas), GRR, NRR, ARPA, ARPU, trial -> paid conversion and subscription CLV, with the
    workspaces as customers. The instance's operators only (403 otherwise)."""
    report = await kpis_service.platform_report(
        session,
        principal,
        context.settings,
        last=month or datetime.now(UTC).date(),
        months=months,
        currency=currency,
    )
    return platform_body(report)


@router.get(
    "/kpis/feature-adoption",
    openapi_extra=route_errors(InvalidInput),
    dependencies=[requires(Scope.events_read)],
    response_model=FeatureAdoption,
    summary="Feature adoption among the workspace's members",
)
async def get_feature_adoption(
    session: DbSession,
    principal: CurrentPrincipal,
    feature: Annotated[str, Query(min_length=1, max_length=80, description="An event name")],
    date_from: Annotated[AwareDatetime, Query(description="Window start (with an offset)")],
    date_to: Annotated[AwareDatetime, Query(description="Window end, exclusive (with an offset)")],
) -> FeatureAdoption:
    """Members who recorded the `feature` event in the window over members who recorded any
    event in it; null when nobody was active."""
    adoption = await kpis_service.feature_adoption(
        session, principal, feature=feature, start=date_from, end=date_to
    )
    return FeatureAdoption(feature=feature, date_from=date_from, date_to=date_to, adoption=adoption)


@router.get(
    "/clv",
    openapi_extra=route_errors(InvalidInput),
    dependencies=[requires(Scope.contacts_read)],
    response_model=ContactsClvRead,
    summary="Predicted purchases, spend and P(alive) of the workspace's contacts",
)
async def get_contacts_clv(
    session: DbSession,
    principal: CurrentPrincipal,
    horizon_weeks: Annotated[float, Query(gt=0, le=520)] = 12.0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ContactsClvRead:
    """BG/NBD and Gamma-Gamma fitted to the contacts' campaign conversions up to today; the
    contacts expected to buy most first. `problem` says why there is no fit (too few repeat
    buyers)."""
    result = await kpis_service.contacts_clv(session, principal, horizon_weeks=horizon_weeks)
    return clv_body(result, horizon_weeks, limit)


@router.post(
    "/goals",
    openapi_extra=route_errors(Forbidden, InvalidInput),
    dependencies=[requires(Scope.workspace_write)],
    response_model=GoalRead,
    status_code=status.HTTP_201_CREATED,
    summary="Set a KPI goal",
)
async def create_goal(
    body: GoalCreate, session: DbSession, principal: CurrentPrincipal, context: Context
) -> GoalRead:
    """A target change of a KPI against the mean of baseline months, e.g. +20 % MRR by June
    over January-March. Platform KPIs' goals are the operators' only (403 otherwise)."""
    goal = await goals_service.create_goal(session, principal, context.settings, data=body)
    return await goals_service.progress(session, goal)


@router.get(
    "/goals",
    dependencies=[requires(Scope.events_read)],
    response_model=list[GoalRead],
    summary="KPI goals with their progress",
)
async def list_goals(
    session: DbSession, principal: CurrentPrincipal, context: Context
) -> list[GoalRead]:
    """Oldest first; each with its baseline, target, monthly points and whether the watcher
    saw the KPI drop. Platform goals are listed to operators only."""
    return await goals_service.list_goals(session, principal, context.settings)


@router.get(
    "/goals/{goal_id}",
    openapi_extra=route_errors(NotFound, Forbidden),
    dependencies=[requires(Scope.events_read)],
    response_model=GoalRead,
    summary="One KPI goal with its progress",
)
async def get_goal(
    goal_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal, context: Context
) -> GoalRead:
    """A goal of this workspace; other workspaces' ids answer 404."""
    return await goals_service.get_goal(session, principal, context.settings, goal_id)


@router.delete(
    "/goals/{goal_id}",
    openapi_extra=route_errors(NotFound, Forbidden),
    dependencies=[requires(Scope.workspace_write)],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a KPI goal",
)
async def delete_goal(
    goal_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal, context: Context
) -> None:
    """Its alert, if any, resolves at the watcher's next run."""
    await goals_service.delete_goal(session, principal, context.settings, goal_id)
