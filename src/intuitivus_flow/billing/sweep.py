"""The periodic billing sweep: what the calendar does to subscriptions, across every workspace.

Run hourly on the job queue (`billing/tasks.py`), and directly by tests with any `now`:

1. a trialing or active subscription with an open invoice past its due date goes `past_due`;
2. a past_due one whose overdue invoice is still open `FLOW_BILLING_GRACE_DAYS` after its due
   date is `canceled` (the workspace falls back to the free plan);
3. a live subscription at the end of its period renews: the next period starts where the last
   one ended and its invoice is issued, once per period however often the sweep runs.

Licensed subscriptions (a licence paid for the plan) and free plans are never touched. Each
step is "everything due as of `now`", so a sweep after downtime catches up on its own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.billing import service as billing
from intuitivus_flow.billing.models import Subscription, SubscriptionStatus
from intuitivus_flow.billing.plans import PLANS, get_plan
from intuitivus_flow.billing.repository import SweepRepository
from intuitivus_flow.events import catalog
from intuitivus_flow.events import service as events

# Periods one subscription may renew in one sweep: one far behind catches up over a few
# sweeps instead of in one long transaction.
MAX_RENEWALS_PER_SWEEP = 12
PAID_PLANS = frozenset(plan.id.value for plan in PLANS.values() if plan.price_minor > 0)


@dataclass(slots=True)
class SweepResult:
    past_due: int = 0
    canceled: int = 0
    renewed: int = 0  # invoices issued for new periods

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


async def sweep_subscriptions(
    session: AsyncSession, now: datetime, *, grace: timedelta
) -> SweepResult:
    """Apply every due step as of `now` in the caller's transaction (see the module doc)."""
    result = SweepResult()
    sweep = SweepRepository(session)
    unpaid = {SubscriptionStatus.trialing, SubscriptionStatus.active}
    for subscription in await sweep.with_overdue_invoice(unpaid, due_before=now):
        await billing.transition(
            session, subscription, SubscriptionStatus.past_due, reason="invoice_overdue", now=now
        )
        result.past_due += 1
    await session.flush()
    past_due = {SubscriptionStatus.past_due}
    for subscription in await sweep.with_overdue_invoice(past_due, due_before=now - grace):
        await billing.transition(
            session, subscription, SubscriptionStatus.canceled, reason="grace_expired", now=now
        )
        result.canceled += 1
    await session.flush()
    for subscription in await sweep.due_for_renewal(now, billing.LIVE_STATUSES, PAID_PLANS):
        result.renewed += await _renew(session, sweep, subscription, now)
    return result


async def _renew(
    session: AsyncSession, sweep: SweepRepository, subscription: Subscription, now: datetime
) -> int:
    plan = get_plan(subscription.plan)
    renewed = 0
    while renewed < MAX_RENEWALS_PER_SWEEP:
        ended = subscription.current_period_end
        if ended is None or ended > now:
            break
        following = ended + billing.BILLING_PERIOD
        if not await sweep.advance_period(subscription, start=ended, end=following):
            break  # another sweep renewed this period first
        invoice = await billing.issue_invoice(session, subscription, plan, issued_at=now)
        await events.record(
            session,
            workspace_id=subscription.workspace_id,
            name=catalog.SUBSCRIPTION_RENEWED,
            properties={
                "subscription_id": str(subscription.id),
                "invoice_id": str(invoice.id),
                "period_start": ended.isoformat(),
                "period_end": following.isoformat(),
            },
        )
        renewed += 1
    return renewed
