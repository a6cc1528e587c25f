"""The rows the KPIs are computed from.

Two levels (docs/analytics.md "KPIs"): the platform's own business, across every workspace
(for the instance's operators: workspaces are the customers, their invoices the revenue), and
one workspace's marketing (its contacts, their campaign conversions as purchases), whose
queries go through `WorkspaceQueries` and so see that workspace only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.analytics.kpis import Activity, Purchase, RevenueSpan, Trial
from intuitivus_flow.billing.models import Invoice, InvoiceStatus, Subscription
from intuitivus_flow.campaigns.automation.models import CampaignConversion
from intuitivus_flow.contacts.models import Contact
from intuitivus_flow.events.models import Event
from intuitivus_flow.kit.repository import StatementRunner, WorkspaceQueries
from intuitivus_flow.users.models import User


class PlatformKpiQueries(StatementRunner):
    """Instance-wide billing rows (operators only: the service checks who asks)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def revenue_spans(self, currency: str) -> list[RevenueSpan]:
        """Every non-void subscription invoice with its service period, in one currency."""
        rows = await self.execute(
            select(
                Invoice.workspace_id, Invoice.period_start, Invoice.period_end, Invoice.amount_minor
            ).where(
                Invoice.subscription_id.is_not(None),
                Invoice.status != InvoiceStatus.void,
                Invoice.currency == currency,
                Invoice.period_start.is_not(None),
                Invoice.period_end.is_not(None),
            )
        )
        return [
            RevenueSpan(str(workspace), start, end, int(amount))
            for workspace, start, end, amount in rows.all()
            if start is not None and end is not None  # the query excludes them; mypy cannot tell
        ]

    async def currencies(self) -> list[str]:
        rows = await self.execute(
            select(Invoice.currency, func.count())
            .where(Invoice.subscription_id.is_not(None))
            .group_by(Invoice.currency)
            .order_by(func.count().desc(), Invoice.currency)
        )
        return [str(currency) for currency, _ in rows.all()]

    async def trials(self) -> list[Trial]:
        """Subscriptions that had a trial, with the first paid invoice after it, if any."""
        first_paid = (
            select(Invoice.workspace_id, func.min(Invoice.paid_at).label("paid_at"))
            .where(Invoice.paid_at.is_not(None), Invoice.amount_minor > 0)
            .group_by(Invoice.workspace_id)
            .subquery()
        )
        rows = await self.execute(
            select(Subscription.workspace_id, Subscription.trial_ends_at, first_paid.c.paid_at)
            .outerjoin(first_paid, first_paid.c.workspace_id == Subscription.workspace_id)
            .where(Subscription.trial_ends_at.is_not(None))
        )
        return [Trial(str(w), ends_at, paid_at) for w, ends_at, paid_at in rows.all()]

    async def active_users(self) -> dict[str, int]:
        """Active members per workspace (ARPU's denominator)."""
        rows = await self.execute(
            select(User.workspace_id, func.count())
            .where(User.active.is_(True))
            .group_by(User.workspace_id)
        )
        return {str(workspace): int(count) for workspace, count in rows.all()}

    async def member_activity(self, start: datetime, end: datetime) -> list[Activity]:
        """Members' product events in the window (feature adoption)."""
        rows = await self.execute(
            select(Event.user_id, Event.name, Event.occurred_at).where(
                Event.user_id.is_not(None), Event.occurred_at >= start, Event.occurred_at < end
            )
        )
        return [Activity(str(user), name, at) for user, name, at in rows.all()]


class WorkspaceKpiQueries(WorkspaceQueries):
    """One workspace's marketing rows; the base restricts every table to the workspace."""

    async def contacts_created(self, end: datetime | None = None) -> list[datetime]:
        statement = select(Contact.created_at)
        if end is not None:
            statement = statement.where(Contact.created_at < end)
        return [at for (at,) in (await self.execute(statement)).all()]

    async def purchases(self, end: datetime | None = None) -> list[Purchase]:
        """Campaign conversions as purchases (value in the campaign's currency)."""
        statement = select(
            CampaignConversion.contact_id,
            CampaignConversion.created_at,
            CampaignConversion.value_minor,
        )
        if end is not None:
            statement = statement.where(CampaignConversion.created_at < end)
        rows = await self.execute(statement)
        return [Purchase(str(contact), at, int(value)) for contact, at, value in rows.all()]

    async def member_activity(self, start: datetime, end: datetime) -> list[Activity]:
        rows = await self.execute(
            select(Event.user_id, Event.name, Event.occurred_at).where(
                Event.user_id.is_not(None), Event.occurred_at >= start, Event.occurred_at < end
            )
        )
        return [Activity(str(user), name, at) for user, name, at in rows.all()]
