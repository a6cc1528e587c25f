"""KPIs per calendar month at two levels, their monthly series, and CLV per contact.

Platform KPIs (the instance's own business: workspaces are the customers) are for the
instance's operators; workspace KPIs (one workspace's marketing) for its members with
`events:read`. Definitions: docs/analytics.md "KPIs".
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.analytics import clv, kpis
from intuitivus_flow.analytics.kpis import Kpi
from intuitivus_flow.analytics.kpis_repository import PlatformKpiQueries, WorkspaceKpiQueries
from intuitivus_flow.auth.operators import require_operator
from intuitivus_flow.config import Settings
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import InvalidInput

MAX_MONTHS = 36


def month_start(day: date) -> datetime:
    return datetime(day.year, day.month, 1, tzinfo=UTC)


def next_month(start: datetime) -> datetime:
    return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)


def months_ending(last: date, count: int) -> list[datetime]:
    """The first instants of `count` consecutive months, the last one containing `last`."""
    if not 1 <= count <= MAX_MONTHS:
        raise InvalidInput(f"months must be between 1 and {MAX_MONTHS}", field="months")
    starts = [month_start(last)]
    for _ in range(count - 1):
        previous = starts[0] - timedelta(days=1)
        starts.insert(0, month_start(previous.date()))
    return starts


@dataclass(frozen=True, slots=True)
class PlatformMonth:
    month: datetime
    movements: kpis.MrrMovements
    churn: kpis.ChurnRates
    arpa: float | None
    arpu: float | None
    trial_conversion: float | None
    subscription_clv: float | None

    def value(self, kpi: Kpi) -> float | None:
        return {
            Kpi.mrr: self.movements.end_mrr,
            Kpi.arpa: self.arpa,
            Kpi.arpu: self.arpu,
            Kpi.customer_churn: self.churn.customer_chartmogul,
            Kpi.revenue_churn: self.churn.revenue_net_chartmogul,
            Kpi.grr: self.churn.grr,
            Kpi.nrr: self.churn.nrr,
            Kpi.trial_conversion: self.trial_conversion,
            Kpi.subscription_clv: self.subscription_clv,
        }[kpi]


@dataclass(frozen=True, slots=True)
class WorkspaceMonth:
    month: datetime
    funnel: kpis.MarketingFunnel

    def value(self, kpi: Kpi) -> float | None:
        return {
            Kpi.contact_conversion: self.funnel.contact_to_customer,
            Kpi.new_customers: float(self.funnel.customers),
            Kpi.revenue: float(self.funnel.revenue_minor),
            Kpi.revenue_per_customer: self.funnel.revenue_per_customer,
        }[kpi]


@dataclass(frozen=True, slots=True)
class PlatformReport:
    currency: str | None
    months: list[PlatformMonth]


@dataclass(frozen=True, slots=True)
class WorkspaceReport:
    months: list[WorkspaceMonth]


def platform_month(
    spans: Sequence[kpis.RevenueSpan],
    trials: Sequence[kpis.Trial],
    users: dict[str, int],
    start: datetime,
) -> PlatformMonth:
    """Every platform KPI of the month starting at `start` (pure: tests call it directly)."""
    return platform_window(spans, trials, users, start, next_month(start))


def platform_window(
    spans: Sequence[kpis.RevenueSpan],
    trials: Sequence[kpis.Trial],
    users: dict[str, int],
    start: datetime,
    end: datetime,
) -> PlatformMonth:
    """Every platform KPI over [start, end): MRR snapshots just before `start` and at the
    last instant before `end`, rates over the window (a month, or the watcher's 30 days)."""
    last_instant = end - timedelta(microseconds=1)
    first_instant = start - timedelta(microseconds=1)
    movements = kpis.mrr_movements(spans, first_instant, last_instant)
    mrr_now = kpis.mrr_by_customer(spans, last_instant)
    churn = kpis.churn_rates(movements)
    arpa = kpis.arpa(mrr_now)
    return PlatformMonth(
        month=start,
        movements=movements,
        churn=churn,
        arpa=arpa,
        arpu=kpis.arpu(mrr_now, users),
        trial_conversion=kpis.trial_conversion(trials, start, end),
        subscription_clv=kpis.subscription_clv(arpa, churn.customer_chartmogul),
    )


@dataclass(frozen=True, slots=True)
class PlatformRows:
    currency: str | None
    spans: list[kpis.RevenueSpan]
    trials: list[kpis.Trial]
    users: dict[str, int]


async def load_platform_rows(session: AsyncSession, currency: str | None = None) -> PlatformRows:
    queries = PlatformKpiQueries(session)
    if currency is None:
        # The currency most subscription invoices are in: MRR never adds two currencies.
        known = await queries.currencies()
        currency = known[0] if known else None
    spans = await queries.revenue_spans(currency) if currency else []
    return PlatformRows(currency, spans, await queries.trials(), await queries.active_users())


@dataclass(frozen=True, slots=True)
class WorkspaceRows:
    contacts: list[datetime]
    purchases: list[kpis.Purchase]


async def load_workspace_rows(
    session: AsyncSession, workspace_id: uuid.UUID, end: datetime | None = None
) -> WorkspaceRows:
    queries = WorkspaceKpiQueries(session, workspace_id)
    return WorkspaceRows(await queries.contacts_created(end), await queries.purchases(end))


def kpi_value(
    kpi: Kpi,
    rows: PlatformRows | WorkspaceRows,
    start: datetime,
    end: datetime,
) -> float | None:
    """One KPI over [start, end) from rows loaded once (the goal series call this per day)."""
    if isinstance(rows, PlatformRows):
        return platform_window(rows.spans, rows.trials, rows.users, start, end).value(kpi)
    funnel = kpis.marketing_funnel(rows.contacts, rows.purchases, start, end, visitors=None)
    return WorkspaceMonth(start, funnel).value(kpi)


async def platform_report(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    *,
    last: date,
    months: int = 12,
    currency: str | None = None,
) -> PlatformReport:
    """The platform's KPIs month by month (operators only)."""
    await require_operator(session, principal, settings, scope=Scope.operations_read)
    return await compute_platform_report(session, last=last, months=months, currency=currency)


async def compute_platform_report(
    session: AsyncSession, *, last: date, months: int = 12, currency: str | None = None
) -> PlatformReport:
    """The report without the caller check: for the CLI and the goals (system)."""
    starts = months_ending(last, months)
    rows = await load_platform_rows(session, currency)
    return PlatformReport(
        currency=rows.currency,
        months=[platform_month(rows.spans, rows.trials, rows.users, start) for start in starts],
    )


async def workspace_report(
    session: AsyncSession, principal: Principal, *, last: date, months: int = 12
) -> WorkspaceReport:
    principal.require_scope(Scope.events_read)
    return await compute_workspace_report(session, principal.workspace_id, last=last, months=months)


async def compute_workspace_report(
    session: AsyncSession, workspace_id: uuid.UUID, *, last: date, months: int = 12
) -> WorkspaceReport:
    starts = months_ending(last, months)
    rows = await load_workspace_rows(session, workspace_id, next_month(starts[-1]))
    return WorkspaceReport(
        months=[
            WorkspaceMonth(
                start,
                kpis.marketing_funnel(
                    rows.contacts, rows.purchases, start, next_month(start), visitors=None
                ),
            )
            for start in starts
        ]
    )


async def feature_adoption(
    session: AsyncSession,
    principal: Principal,
    *,
    feature: str,
    start: datetime,
    end: datetime,
) -> float | None:
    """Members of the workspace who used `feature` (an event name) over its active members."""
    principal.require_scope(Scope.events_read)
    if end <= start:
        raise InvalidInput("The window must end after it starts", field="date_to")
    activity = await WorkspaceKpiQueries(session, principal.workspace_id).member_activity(
        start, end
    )
    return kpis.feature_adoption(activity, feature, start, end)


async def platform_feature_adoption(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    *,
    feature: str,
    start: datetime,
    end: datetime,
) -> float | None:
    """Members of every workspace who used `feature` over all active members (operators)."""
    await require_operator(session, principal, settings, scope=Scope.operations_read)
    if end <= start:
        raise InvalidInput("The window must end after it starts", field="date_to")
    activity = await PlatformKpiQueries(session).member_activity(start, end)
    return kpis.feature_adoption(activity, feature, start, end)


# -- CLV of a workspace's contacts --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContactsClv:
    """BG/NBD + Gamma-Gamma over the workspace's purchases, or why there is no fit."""

    calibration_end: date
    customers: int
    fit: clv.ClvFit | None
    problem: str | None
    predictions: list[clv.ContactPrediction] = field(default_factory=list)


async def contacts_clv(
    session: AsyncSession,
    principal: Principal,
    *,
    horizon_weeks: float = 12.0,
    today: date | None = None,
) -> ContactsClv:
    """Per contact: P(alive), expected purchases over `horizon_weeks`, expected spend."""
    principal.require_scope(Scope.contacts_read)
    if not 0 < horizon_weeks <= 520:
        raise InvalidInput("horizon_weeks must be between 0 and 520", field="horizon_weeks")
    end = today or datetime.now(UTC).date()
    purchases = await WorkspaceKpiQueries(session, principal.workspace_id).purchases()
    transactions = [clv.Transaction(p.contact, p.at.date(), p.amount_minor) for p in purchases]
    customers = len({t.customer_id for t in transactions})
    try:
        # Fitting is CPU work (milliseconds to a second): off the event loop.
        fitted = await asyncio.to_thread(
            clv.fit, transactions, calibration_end=end, penalizer=clv.SMALL_DATA_PENALIZER
        )
    except clv.ClvInputError as error:
        return ContactsClv(end, customers, None, str(error))
    predictions = sorted(
        fitted.predictions(horizon_weeks=horizon_weeks),
        key=lambda row: row.expected_purchases,
        reverse=True,
    )
    return ContactsClv(end, customers, fitted, None, predictions)
