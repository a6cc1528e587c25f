"""Business KPIs as pure functions over plain rows (definitions: docs/analytics.md "KPIs").

The repository (`kpis_repository.py`) loads the rows, the service (`kpis_service.py`) picks the
period; everything here is arithmetic that tests check against hand-computed figures. Money is
in minor units of one currency; rates are fractions (0.05 = 5 %); None means "undefined"
(a rate over an empty denominator), never zero.

MRR follows Stripe's definition: the monthly-normalised value of the subscriptions that are
paying at an instant (trials and free plans excluded). Here a subscription's paying periods
are its non-void invoices: an invoice for [period_start, period_end) contributes its amount
divided by the period's length in months while the instant falls inside the period.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

AVERAGE_MONTH = timedelta(days=365.2425 / 12)


class Level(StrEnum):
    platform = "platform"
    workspace = "workspace"


class Kpi(StrEnum):
    """The KPIs a series is drawn for and a goal can target."""

    mrr = "mrr"
    arpa = "arpa"
    arpu = "arpu"
    customer_churn = "customer_churn"  # ChartMogul's Standard formula
    revenue_churn = "revenue_churn"  # ChartMogul's net MRR churn
    grr = "grr"
    nrr = "nrr"
    trial_conversion = "trial_conversion"
    subscription_clv = "subscription_clv"
    contact_conversion = "contact_conversion"  # contact -> customer
    new_customers = "new_customers"
    revenue = "revenue"
    revenue_per_customer = "revenue_per_customer"

    @property
    def level(self) -> Level:
        return Level.workspace if self in WORKSPACE_KPIS else Level.platform

    @property
    def higher_is_better(self) -> bool:
        return self not in {Kpi.customer_churn, Kpi.revenue_churn}


WORKSPACE_KPIS = frozenset(
    {Kpi.contact_conversion, Kpi.new_customers, Kpi.revenue, Kpi.revenue_per_customer}
)


@dataclass(frozen=True, slots=True)
class RevenueSpan:
    """One customer paying `amount_minor` for [start, end)."""

    customer: str
    start: datetime
    end: datetime
    amount_minor: int

    @property
    def monthly_minor(self) -> float:
        months = max(1, round((self.end - self.start) / AVERAGE_MONTH))
        return self.amount_minor / months


def mrr_by_customer(spans: Iterable[RevenueSpan], at: datetime) -> dict[str, float]:
    """Each paying customer's MRR at the instant `at`."""
    found: dict[str, float] = {}
    for span in spans:
        if span.start <= at < span.end and span.amount_minor > 0:
            found[span.customer] = found.get(span.customer, 0.0) + span.monthly_minor
    return found


@dataclass(frozen=True, slots=True)
class MrrMovements:
    """How MRR moved from `start` to `end`, customer by customer (snapshots at both ends:
    a customer who joined and left inside the period moves nothing)."""

    start_mrr: float
    end_mrr: float
    new: float
    reactivation: float
    expansion: float
    contraction: float
    churn: float
    customers_at_start: int
    customers_at_end: int
    new_customers: int  # includes reactivated customers (Stripe counts both as new)
    churned_customers: int

    @property
    def net_change(self) -> float:
        return self.new + self.reactivation + self.expansion - self.contraction - self.churn


def mrr_movements(spans: Sequence[RevenueSpan], start: datetime, end: datetime) -> MrrMovements:
    before = mrr_by_customer(spans, start)
    after = mrr_by_customer(spans, end)
    paid_earlier = {s.customer for s in spans if s.start < start and s.amount_minor > 0}
    new = reactivation = expansion = contraction = churn = 0.0
    new_customers = churned = 0
    for customer in before.keys() | after.keys():
        old, current = before.get(customer, 0.0), after.get(customer, 0.0)
        if old == 0:
            new_customers += 1
            if customer in paid_earlier:
                reactivation += current
            else:
                new += current
        elif current == 0:
            churned += 1
            churn += old
        elif current > old:
            expansion += current - old
        else:
            contraction += old - current
    return MrrMovements(
        start_mrr=sum(before.values()),
        end_mrr=sum(after.values()),
        new=new,
        reactivation=reactivation,
        expansion=expansion,
        contraction=contraction,
        churn=churn,
        customers_at_start=len(before),
        customers_at_end=len(after),
        new_customers=new_customers,
        churned_customers=churned,
    )


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


@dataclass(frozen=True, slots=True)
class ChurnRates:
    """Customer and revenue churn over one period, by ChartMogul's Standard (B2B) formulas
    and by Stripe's Billing analytics formulas (whose denominator adds the period's new ones)."""

    customer_chartmogul: float | None
    customer_stripe: float | None
    revenue_gross_chartmogul: float | None
    revenue_net_chartmogul: float | None
    revenue_stripe: float | None
    grr: float | None
    nrr: float | None


def churn_rates(m: MrrMovements) -> ChurnRates:
    lost = m.churn + m.contraction
    return ChurnRates(
        customer_chartmogul=_ratio(m.churned_customers, m.customers_at_start),
        customer_stripe=_ratio(m.churned_customers, m.customers_at_start + m.new_customers),
        revenue_gross_chartmogul=_ratio(lost, m.start_mrr),
        revenue_net_chartmogul=_ratio(lost - m.expansion - m.reactivation, m.start_mrr),
        revenue_stripe=_ratio(m.churn, m.start_mrr + m.new + m.reactivation),
        grr=_ratio(m.start_mrr - lost, m.start_mrr),
        nrr=_ratio(m.start_mrr - lost + m.expansion, m.start_mrr),
    )


def arpa(mrr: Mapping[str, float]) -> float | None:
    """Average revenue per account: MRR over paying customers."""
    return _ratio(sum(mrr.values()), len(mrr))


def arpu(mrr: Mapping[str, float], users: Mapping[str, int]) -> float | None:
    """Average revenue per user: MRR over the active users of the paying customers."""
    return _ratio(sum(mrr.values()), sum(users.get(customer, 0) for customer in mrr))


def subscription_clv(arpa_minor: float | None, monthly_churn: float | None) -> float | None:
    """Lifetime value of a subscriber: ARPA / monthly customer churn (ChartMogul's LTV).
    Undefined without churn (an infinite lifetime is not a figure)."""
    if arpa_minor is None or not monthly_churn:
        return None
    return arpa_minor / monthly_churn


@dataclass(frozen=True, slots=True)
class Trial:
    customer: str
    ends_at: datetime
    first_paid_at: datetime | None


def trial_conversion(trials: Iterable[Trial], start: datetime, end: datetime) -> float | None:
    """Trials that ended in [start, end) and were paid for by `end`, over those trials."""
    ended = [t for t in trials if start <= t.ends_at < end]
    paid = [t for t in ended if t.first_paid_at is not None and t.first_paid_at < end]
    return _ratio(len(paid), len(ended))


@dataclass(frozen=True, slots=True)
class Activity:
    """Someone did something: a member's product event, a person's tracked event."""

    actor: str
    name: str
    at: datetime


def feature_adoption(
    activity: Iterable[Activity], feature: str, start: datetime, end: datetime
) -> float | None:
    """Actors who used `feature` in [start, end) over actors active in the same window."""
    active: set[str] = set()
    adopters: set[str] = set()
    for item in activity:
        if start <= item.at < end:
            active.add(item.actor)
            if item.name == feature:
                adopters.add(item.actor)
    return _ratio(len(adopters), len(active))


@dataclass(frozen=True, slots=True)
class MarketingFunnel:
    """A workspace's visitor -> contact -> customer conversion over one window."""

    visitors: int | None  # None when no analytics store counts visitors
    contacts: int
    customers: int
    revenue_minor: int

    @property
    def visitor_to_contact(self) -> float | None:
        return None if self.visitors is None else _ratio(self.contacts, self.visitors)

    @property
    def contact_to_customer(self) -> float | None:
        return _ratio(self.customers, self.contacts)

    @property
    def revenue_per_customer(self) -> float | None:
        return _ratio(self.revenue_minor, self.customers)


@dataclass(frozen=True, slots=True)
class Purchase:
    contact: str
    at: datetime
    amount_minor: int


def marketing_funnel(
    contacts_created: Iterable[datetime],
    purchases: Iterable[Purchase],
    start: datetime,
    end: datetime,
    *,
    visitors: int | None,
) -> MarketingFunnel:
    """Contacts created in the window; customers: contacts whose first purchase ever falls in
    the window; revenue: every purchase in the window."""
    first_purchase: dict[str, datetime] = {}
    revenue = 0
    for p in purchases:
        if p.contact not in first_purchase or p.at < first_purchase[p.contact]:
            first_purchase[p.contact] = p.at
        if start <= p.at < end:
            revenue += p.amount_minor
    return MarketingFunnel(
        visitors=visitors,
        contacts=sum(1 for at in contacts_created if start <= at < end),
        customers=sum(1 for at in first_purchase.values() if start <= at < end),
        revenue_minor=revenue,
    )


@dataclass(slots=True)
class Series:
    """One KPI over consecutive periods (what the KPI page charts and the watcher scores)."""

    kpi: str
    points: list[tuple[datetime, float | None]] = field(default_factory=list)

    def values(self) -> list[float]:
        return [value for _, value in self.points if value is not None]
