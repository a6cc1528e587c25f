"""KPIs on hand-computed data: the arithmetic alone, then the same rows through the database
(SQLite and PostgreSQL) at both levels.

The platform scenario, March 2026 (MRR in cents, one invoice per month unless said):
  A 100 -> 100 (steady)        B 200 -> 300 (expansion 100)   C 300 -> 150 (contraction 150)
  D 400 -> gone (churn 400)    E new 500                      F paid in December, back at 60
  G an annual invoice of 1200 from January 15 (100 a month, steady)
MRR at February's end = 1100 over 5 customers; at March's end = 1210 over 6.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from intuitivus_flow.analytics import kpis
from intuitivus_flow.analytics.kpis_repository import PlatformKpiQueries, WorkspaceKpiQueries
from intuitivus_flow.analytics.kpis_service import (
    Kpi,
    compute_platform_report,
    compute_workspace_report,
    platform_month,
)
from intuitivus_flow.billing.models import Invoice, InvoiceStatus, Subscription, SubscriptionStatus
from intuitivus_flow.campaigns.automation.models import CampaignConversion
from intuitivus_flow.campaigns.models import Campaign, Platform
from intuitivus_flow.contacts.models import Contact
from intuitivus_flow.events.models import Event
from intuitivus_flow.kit.db import create_session_factory, unit_of_work
from intuitivus_flow.users.models import User
from intuitivus_flow.workspaces.models import Workspace
from tests.conftest import empty_tables


def at(month: int, day: int, hour: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def monthly(customer: str, month: int, amount: int, year: int = 2026) -> kpis.RevenueSpan:
    end_year, end_month = (year + 1, 1) if month == 12 else (year, month + 1)
    return kpis.RevenueSpan(
        customer, at(month, 1, year=year), at(end_month, 1, year=end_year), amount
    )


SPANS = [
    monthly("A", 2, 100),
    monthly("A", 3, 100),
    monthly("B", 2, 200),
    monthly("B", 3, 300),
    monthly("C", 2, 300),
    monthly("C", 3, 150),
    monthly("D", 2, 400),
    monthly("E", 3, 500),
    monthly("F", 12, 50, year=2025),
    monthly("F", 3, 60),
    kpis.RevenueSpan("G", at(1, 15), at(1, 15, year=2027), 1200),
]
USERS = {"A": 2, "B": 1, "C": 1, "D": 5, "E": 3, "F": 1, "G": 2}
TRIALS = [
    kpis.Trial("H", at(3, 10), at(3, 10, 12)),  # ended in March, paid: converted
    kpis.Trial("I", at(3, 20), None),  # ended in March, never paid
    kpis.Trial("J", at(2, 10), None),  # ended in February: not March's
    kpis.Trial("K", at(3, 30), at(4, 2)),  # paid only in April: not converted by March's end
]


class TestPlatformArithmetic:
    def test_mrr_movements(self) -> None:
        month = platform_month(SPANS, TRIALS, USERS, at(3, 1))
        m = month.movements
        assert (m.start_mrr, m.end_mrr) == (1100, 1210)
        assert (m.new, m.reactivation, m.expansion, m.contraction, m.churn) == (
            500,
            60,
            100,
            150,
            400,
        )
        assert m.net_change == 110
        assert (m.customers_at_start, m.customers_at_end) == (5, 6)
        assert (m.new_customers, m.churned_customers) == (2, 1)

    def test_churn_by_both_definitions(self) -> None:
        churn = platform_month(SPANS, TRIALS, USERS, at(3, 1)).churn
        assert churn.customer_chartmogul == pytest.approx(1 / 5)
        assert churn.customer_stripe == pytest.approx(1 / (5 + 2))
        assert churn.revenue_gross_chartmogul == pytest.approx((400 + 150) / 1100)
        assert churn.revenue_net_chartmogul == pytest.approx((400 + 150 - 100 - 60) / 1100)
        assert churn.revenue_stripe == pytest.approx(400 / (1100 + 500 + 60))
        assert churn.grr == pytest.approx((1100 - 550) / 1100)
        assert churn.nrr == pytest.approx((1100 - 550 + 100) / 1100)

    def test_revenue_per_account_user_and_lifetime(self) -> None:
        month = platform_month(SPANS, TRIALS, USERS, at(3, 1))
        assert month.arpa == pytest.approx(1210 / 6)
        # D churned: its five users are not March's paying users.
        assert month.arpu == pytest.approx(1210 / (2 + 1 + 1 + 3 + 1 + 2))
        assert month.subscription_clv == pytest.approx((1210 / 6) / (1 / 5))
        assert month.trial_conversion == pytest.approx(1 / 3)

    def test_an_annual_invoice_counts_a_twelfth(self) -> None:
        assert kpis.mrr_by_customer(SPANS, at(6, 1))["G"] == pytest.approx(100)

    def test_no_customers_means_undefined_not_zero(self) -> None:
        month = platform_month([], [], {}, at(3, 1))
        assert month.churn.customer_chartmogul is None
        assert month.arpa is None
        assert month.subscription_clv is None
        assert month.value(Kpi.mrr) == 0


ACTIVITY = [
    kpis.Activity("u1", "agent.created", at(3, 2)),
    kpis.Activity("u1", "user.logged_in", at(3, 2)),
    kpis.Activity("u2", "user.logged_in", at(3, 5)),
    kpis.Activity("u3", "agent.created", at(2, 27)),  # before the window
    kpis.Activity("u4", "campaign.created", at(3, 30)),
]


def test_feature_adoption() -> None:
    assert kpis.feature_adoption(ACTIVITY, "agent.created", at(3, 1), at(4, 1)) == pytest.approx(
        1 / 3
    )
    assert kpis.feature_adoption([], "agent.created", at(3, 1), at(4, 1)) is None


CONTACTS = [at(2, 20), at(3, 1), at(3, 5), at(3, 31, 23), at(4, 1)]
PURCHASES = [
    kpis.Purchase("c1", at(2, 25), 40),  # c1's first purchase: February
    kpis.Purchase("c1", at(3, 10), 70),
    kpis.Purchase("c2", at(3, 5), 100),
    kpis.Purchase("c2", at(3, 20), 50),
    kpis.Purchase("c3", at(3, 31), 25),
]


def test_marketing_funnel() -> None:
    funnel = kpis.marketing_funnel(CONTACTS, PURCHASES, at(3, 1), at(4, 1), visitors=12)
    assert (funnel.contacts, funnel.customers, funnel.revenue_minor) == (3, 2, 245)
    assert funnel.visitor_to_contact == pytest.approx(3 / 12)
    assert funnel.contact_to_customer == pytest.approx(2 / 3)
    assert funnel.revenue_per_customer == pytest.approx(245 / 2)
    assert (
        kpis.marketing_funnel([], [], at(3, 1), at(4, 1), visitors=None).visitor_to_contact is None
    )


# -- through the database ------------------------------------------------------------------


@pytest.fixture
async def sessions(database: Any) -> AsyncIterator[Any]:
    yield create_session_factory(database.engine)
    await empty_tables(database.engine)


async def _platform_rows(session: Any) -> dict[str, uuid.UUID]:
    ids: dict[str, uuid.UUID] = {}
    for name in "ABCDEFGHIJK":
        workspace = Workspace(name=f"Customer {name}")
        session.add(workspace)
        await session.flush()
        ids[name] = workspace.id
        trial = {t.customer: t.ends_at for t in TRIALS}.get(name)
        subscription = Subscription(
            workspace_id=workspace.id,
            plan="pro",
            status=SubscriptionStatus.active,
            trial_ends_at=trial,
        )
        session.add(subscription)
        await session.flush()
        for n in range(USERS.get(name, 0)):
            email = f"{name.lower()}{n}-{uuid.uuid4().hex[:6]}@example.com"
            session.add(
                User(
                    workspace_id=workspace.id,
                    email=email,
                    email_normalized=email,
                    password_hash="x",
                )
            )
        spans = [s for s in SPANS if s.customer == name]
        for span in spans:
            session.add(_invoice(workspace.id, subscription.id, span, "USD", paid_at=span.start))
        trial_row = next((t for t in TRIALS if t.customer == name), None)
        if trial_row is not None and trial_row.first_paid_at is not None:
            # Paid in another currency: converts the trial, adds nothing to USD MRR.
            paid = kpis.RevenueSpan(name, trial_row.first_paid_at, at(5, 1), 999)
            session.add(_invoice(workspace.id, subscription.id, paid, "EUR", paid_at=paid.start))
    # A void invoice is not revenue.
    void = _invoice(ids["A"], None, monthly("A", 3, 7000), "USD", paid_at=None)
    void.status = InvoiceStatus.void
    session.add(void)
    await session.flush()
    return ids


def _invoice(
    workspace_id: uuid.UUID,
    subscription_id: uuid.UUID | None,
    span: kpis.RevenueSpan,
    currency: str,
    *,
    paid_at: datetime | None,
) -> Invoice:
    return Invoice(
        workspace_id=workspace_id,
        subscription_id=subscription_id,
        number=f"INV-{uuid.uuid4().hex[:12]}",
        amount_minor=span.amount_minor,
        currency=currency,
        status=InvoiceStatus.paid if paid_at else InvoiceStatus.open,
        period_start=span.start,
        period_end=span.end,
        paid_at=paid_at,
    )


class TestPlatformFromTheDatabase:
    async def test_march_matches_the_hand_computed_figures(self, sessions: Any) -> None:
        async with unit_of_work(sessions) as session:
            await _platform_rows(session)
        async with unit_of_work(sessions) as session:
            report = await compute_platform_report(session, last=date(2026, 3, 15), months=2)
        assert report.currency == "USD"
        february, march = report.months
        assert february.month == at(2, 1)
        assert march.value(Kpi.mrr) == pytest.approx(1210)
        assert march.movements.churn == pytest.approx(400)
        assert march.movements.reactivation == pytest.approx(60)
        assert march.value(Kpi.customer_churn) == pytest.approx(1 / 5)
        assert march.value(Kpi.arpu) == pytest.approx(1210 / 10)
        assert march.value(Kpi.trial_conversion) == pytest.approx(1 / 3)
        assert february.value(Kpi.mrr) == pytest.approx(1100)

    async def test_feature_adoption_from_events(self, sessions: Any) -> None:
        async with unit_of_work(sessions) as session:
            workspace = Workspace(name="Members")
            session.add(workspace)
            await session.flush()
            users = {}
            for actor in ("u1", "u2", "u3", "u4"):
                email = f"{actor}-{uuid.uuid4().hex[:6]}@example.com"
                user = User(
                    workspace_id=workspace.id,
                    email=email,
                    email_normalized=email,
                    password_hash="x",
                )
                session.add(user)
                await session.flush()
                users[actor] = user.id
            for item in ACTIVITY:
                session.add(
                    Event(
                        workspace_id=workspace.id,
                        user_id=users[item.actor],
                        name=item.name,
                        occurred_at=item.at,
                    )
                )
        async with unit_of_work(sessions) as session:
            activity = await PlatformKpiQueries(session).member_activity(at(3, 1), at(4, 1))
            scoped = await WorkspaceKpiQueries(session, workspace.id).member_activity(
                at(3, 1), at(4, 1)
            )
        for rows in (activity, scoped):
            assert kpis.feature_adoption(rows, "agent.created", at(3, 1), at(4, 1)) == (
                pytest.approx(1 / 3)
            )


class TestWorkspaceFromTheDatabase:
    async def test_march_funnel_and_tenancy(self, sessions: Any) -> None:
        async with unit_of_work(sessions) as session:
            mine, other = Workspace(name="Agency"), Workspace(name="Other agency")
            session.add_all([mine, other])
            await session.flush()
            contacts: dict[str, uuid.UUID] = {}
            for workspace in (mine, other):
                campaign = Campaign(
                    workspace_id=workspace.id,
                    name="Spring",
                    platform=Platform.meta_ads,
                    currency="USD",
                )
                session.add(campaign)
                for n, created in enumerate(CONTACTS):
                    contact = Contact(workspace_id=workspace.id, phone=f"+1555000{n:04d}")
                    contact.created_at = created
                    session.add(contact)
                    await session.flush()
                    if workspace is mine:
                        contacts[f"c{n + 1}"] = contact.id
                    else:
                        contacts[f"other{n + 1}"] = contact.id
                await session.flush()
                for n, purchase in enumerate(PURCHASES):
                    # One conversion per (campaign, contact): each purchase its own campaign.
                    per_purchase = Campaign(
                        workspace_id=workspace.id,
                        name=f"Push {n}",
                        platform=Platform.meta_ads,
                        currency="USD",
                    )
                    session.add(per_purchase)
                    await session.flush()
                    prefix = "c" if workspace is mine else "other"
                    conversion = CampaignConversion(
                        workspace_id=workspace.id,
                        campaign_id=per_purchase.id,
                        contact_id=contacts[purchase.contact.replace("c", prefix)],
                        value_minor=purchase.amount_minor * (1 if workspace is mine else 1000),
                    )
                    conversion.created_at = purchase.at
                    session.add(conversion)
        async with unit_of_work(sessions) as session:
            report = await compute_workspace_report(
                session, mine.id, last=date(2026, 3, 1), months=1
            )
        (march,) = report.months
        assert (march.funnel.contacts, march.funnel.customers) == (3, 2)
        assert march.value(Kpi.revenue) == 245  # the other agency's thousandfold values stay out
        assert march.value(Kpi.contact_conversion) == pytest.approx(2 / 3)
        assert march.value(Kpi.revenue_per_customer) == pytest.approx(245 / 2)
