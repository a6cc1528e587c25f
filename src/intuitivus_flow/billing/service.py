"""Plans, limits and usage; subscriptions and their transitions; invoices.

Other domains call one hook where the limited thing is created, `check_room` (or
`check_added` after a bulk insert) with their own count of it, and `use_message_quota` for
each message sent (docs/billing.md). A check and the insert it allows are atomic: the checks
hold the workspace's limit lock until the caller's transaction ends, and the message counter
is raised by one conditional statement, so parallel requests at the limit never all pass.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.billing.exceptions import PlanLimitReached
from intuitivus_flow.billing.models import (
    Invoice,
    InvoiceStatus,
    Subscription,
    SubscriptionStatus,
)
from intuitivus_flow.billing.plans import DEFAULT_PLAN, PLANS, Limit, Plan, PlanId, get_plan
from intuitivus_flow.billing.repository import (
    InvoiceRepository,
    MessageUsageRepository,
    SubscriptionRepository,
)
from intuitivus_flow.events import catalog
from intuitivus_flow.events import service as events
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.roles import Role
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import InvalidInput
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.kit.repository import Page
from intuitivus_flow.workspaces.repository import lock_workspace

BILLING_PERIOD = timedelta(days=30)
# How long an invoice may wait for payment once issued (or once the trial it covers ends).
PAYMENT_TERMS = timedelta(days=7)

# A canceled subscription ends; choosing a plan again starts a new period (→ trialing/active).
ALLOWED_TRANSITIONS: dict[SubscriptionStatus, frozenset[SubscriptionStatus]] = {
    SubscriptionStatus.trialing: frozenset(
        {SubscriptionStatus.active, SubscriptionStatus.past_due, SubscriptionStatus.canceled}
    ),
    SubscriptionStatus.active: frozenset(
        {SubscriptionStatus.past_due, SubscriptionStatus.canceled}
    ),
    SubscriptionStatus.past_due: frozenset(
        {SubscriptionStatus.active, SubscriptionStatus.canceled}
    ),
    SubscriptionStatus.canceled: frozenset(
        {SubscriptionStatus.trialing, SubscriptionStatus.active}
    ),
}
LIVE_STATUSES = frozenset(
    {SubscriptionStatus.trialing, SubscriptionStatus.active, SubscriptionStatus.past_due}
)


@dataclass(frozen=True, slots=True)
class LimitUsage:
    limit: Limit
    used: int
    allowed: int


@dataclass(frozen=True, slots=True)
class Usage:
    plan: Plan
    subscription: Subscription | None
    period: str
    limits: list[LimitUsage]


def require_billing_reader(principal: Principal) -> None:
    principal.require_scope(Scope.billing_read)


def require_billing_manager(principal: Principal) -> None:
    principal.require_scope(Scope.billing_write)
    principal.require_role(Role.admin)


def month_period(moment: datetime | None = None) -> str:
    return (moment or utcnow()).strftime("%Y-%m")


# --- plans and limits ---------------------------------------------------------------------


async def current_plan(session: AsyncSession, workspace_id: uuid.UUID) -> Plan:
    subscription = await SubscriptionRepository(session, workspace_id).current()
    if subscription is None or SubscriptionStatus(subscription.status) not in LIVE_STATUSES:
        return PLANS[DEFAULT_PLAN]
    return get_plan(subscription.plan)


async def _enforce(
    session: AsyncSession, workspace_id: uuid.UUID, limit: Limit, used: int, adding: int
) -> None:
    plan = await current_plan(session, workspace_id)
    allowed = plan.limit(limit)
    if used + adding > allowed:
        raise PlanLimitReached(plan, limit, allowed=allowed, used=used)


# Counts the rows of one limited thing in a workspace. The domain that owns the rows supplies
# it (agents count agents, users count members): billing asks "may I add n?", it does not
# reach into their tables.
Counter = Callable[[AsyncSession, uuid.UUID], Awaitable[int]]


async def check_room(
    session: AsyncSession, workspace_id: uuid.UUID, limit: Limit, *, count: Counter
) -> None:
    """Before one more agent or member is created: 402 `/problems/plan-limit` when full.

    `count` runs after the workspace's limit lock is taken, and the lock is held until the
    caller's transaction ends, so the count and the insert it allows are one step.
    """
    await lock_workspace(session, workspace_id)
    await _enforce(session, workspace_id, limit, await count(session, workspace_id), 1)


async def check_added(
    session: AsyncSession, workspace_id: uuid.UUID, limit: Limit, *, added: int, count: Counter
) -> None:
    """After `added` rows were inserted in bulk (an import): 402 when they do not fit.

    Taken after the inserts, the limit lock makes the count include every creation or import
    that committed before and makes later ones wait for this transaction (on SQLite the
    inserts already hold the write lock), so a long validation before them holds no lock.
    """
    if added < 1:
        return
    await lock_workspace(session, workspace_id)
    total = await count(session, workspace_id)
    await _enforce(session, workspace_id, limit, total - added, added)


async def check_message_quota(
    session: AsyncSession, workspace_id: uuid.UUID, *, count: int = 1
) -> None:
    """402 `/problems/plan-limit` when `count` more messages would exceed this month's quota.

    A look, not a reservation: a caller about to do costly work for a message (an agent's
    LLM completion) asks first; the send itself counts through `use_message_quota`.
    """
    used = await MessageUsageRepository(session, workspace_id).used(month_period())
    await _enforce(session, workspace_id, Limit.monthly_messages, used, count)


async def use_message_quota(
    session: AsyncSession, workspace_id: uuid.UUID, *, count: int = 1
) -> int:
    """Count `count` messages sent this month (UTC) and return the month's total, or raise
    402 `/problems/plan-limit` and count nothing when the plan's quota would be exceeded.

    One conditional statement in the caller's transaction, so parallel senders never pass the
    quota together, and a send that rolls back gives its messages back.
    """
    if count < 1:
        raise ValueError("count must be positive")
    plan = await current_plan(session, workspace_id)
    allowed = plan.limit(Limit.monthly_messages)
    usage = MessageUsageRepository(session, workspace_id)
    period = month_period()
    total = await usage.add_within(period, count, allowed=allowed)
    if total is None:
        used = await usage.used(period)
        raise PlanLimitReached(plan, Limit.monthly_messages, allowed=allowed, used=used)
    return total


async def usage(
    session: AsyncSession, principal: Principal, *, counters: Mapping[Limit, Counter]
) -> Usage:
    """`counters`: how the owning domains count agents and members (the app wires them)."""
    require_billing_reader(principal)
    workspace_id = principal.workspace_id
    plan = await current_plan(session, workspace_id)
    period = month_period()
    used = {
        Limit.agents: await counters[Limit.agents](session, workspace_id),
        Limit.members: await counters[Limit.members](session, workspace_id),
        Limit.monthly_messages: await MessageUsageRepository(session, workspace_id).used(period),
    }
    return Usage(
        plan=plan,
        subscription=await SubscriptionRepository(session, workspace_id).current(),
        period=period,
        limits=[LimitUsage(limit, used[limit], plan.limit(limit)) for limit in Limit],
    )


# --- subscriptions ------------------------------------------------------------------------


async def get_subscription(session: AsyncSession, principal: Principal) -> Subscription:
    require_billing_reader(principal)
    return await SubscriptionRepository(session, principal.workspace_id).get_or_raise_current()


async def choose_plan(
    session: AsyncSession, principal: Principal, *, plan_id: PlanId
) -> Subscription:
    """Move the workspace to a plan. A paid plan starts with its trial the first time, and an
    open invoice for the first period; the free plan cancels any paid subscription."""
    require_billing_manager(principal)
    repository = SubscriptionRepository(session, principal.workspace_id)
    subscription = await repository.current()
    if plan_id is DEFAULT_PLAN:
        if subscription is None:
            return await _start(session, principal, PLANS[DEFAULT_PLAN], trial=False)
        await _cancel(session, principal, subscription)
        return subscription
    plan = PLANS[plan_id]
    if subscription is None:
        subscription = await _start(session, principal, plan, trial=True)
    elif (
        subscription.plan == plan_id.value
        and SubscriptionStatus(subscription.status) in LIVE_STATUSES
    ):
        return subscription
    else:
        if subscription.status == SubscriptionStatus.canceled:
            await transition(session, subscription, SubscriptionStatus.active, principal=principal)
        await _void_open_invoices(session, subscription, same_period_only=True)
        # From now on invoices pay for the plan; a licence that paid for the old one no longer
        # does (and its later refund must not cancel a plan it did not pay for).
        subscription.plan, subscription.licence_id = plan.id.value, None
        await _record(session, principal, catalog.SUBSCRIPTION_PLAN_CHANGED, subscription)
    await issue_invoice(session, subscription, plan)
    return subscription


async def _start(
    session: AsyncSession, principal: Principal, plan: Plan, *, trial: bool
) -> Subscription:
    now = utcnow()
    trialing = trial and plan.trial_days > 0
    status = SubscriptionStatus.trialing if trialing else SubscriptionStatus.active
    subscription = await SubscriptionRepository(session, principal.workspace_id).add(
        Subscription(
            plan=plan.id.value,
            status=status,
            trial_ends_at=now + timedelta(days=plan.trial_days) if trialing else None,
            current_period_start=now,
            current_period_end=now + BILLING_PERIOD,
        )
    )
    await _record(session, principal, catalog.SUBSCRIPTION_STARTED, subscription)
    return subscription


async def cancel(session: AsyncSession, principal: Principal) -> Subscription:
    require_billing_manager(principal)
    subscription = await SubscriptionRepository(
        session, principal.workspace_id
    ).get_or_raise_current()
    await _cancel(session, principal, subscription)
    return subscription


async def _cancel(session: AsyncSession, principal: Principal, subscription: Subscription) -> None:
    in_trial = subscription.status == SubscriptionStatus.trialing
    await transition(session, subscription, SubscriptionStatus.canceled, principal=principal)
    if in_trial:
        # Nothing is owed for a trial; its invoice must not make a later return past_due.
        await _void_open_invoices(session, subscription, same_period_only=False)


async def transition(
    session: AsyncSession,
    subscription: Subscription,
    to: SubscriptionStatus,
    *,
    principal: Principal | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> None:
    """Move a subscription along ALLOWED_TRANSITIONS (the same status is a no-op)."""
    current = SubscriptionStatus(subscription.status)
    if to is current:
        return
    if to not in ALLOWED_TRANSITIONS[current]:
        raise InvalidInput(
            f"A {current.value} subscription cannot become {to.value}", field="status"
        )
    now = now or utcnow()
    subscription.status = to
    if to is SubscriptionStatus.canceled:
        subscription.canceled_at = now
    elif current is SubscriptionStatus.canceled:
        subscription.canceled_at = None
        subscription.current_period_start, subscription.current_period_end = (
            now,
            now + BILLING_PERIOD,
        )
    await events.record(
        session,
        workspace_id=subscription.workspace_id,
        user_id=principal.user_id if principal else None,
        name=catalog.SUBSCRIPTION_STATUS_CHANGED,
        properties={
            "subscription_id": str(subscription.id),
            "from": current.value,
            "to": to.value,
            **({"reason": reason} if reason else {}),
        },
    )


async def activate_with_plan(
    session: AsyncSession, workspace_id: uuid.UUID, plan_id: str, *, licence_id: uuid.UUID
) -> Subscription:
    """A redeemed licence pays for the plan: the subscription becomes active on it."""
    repository = SubscriptionRepository(session, workspace_id)
    subscription = await repository.current()
    if subscription is None:
        now = utcnow()
        return await repository.add(
            Subscription(
                plan=plan_id,
                status=SubscriptionStatus.active,
                current_period_start=now,
                licence_id=licence_id,
            )
        )
    subscription.plan, subscription.licence_id = plan_id, licence_id
    await transition(session, subscription, SubscriptionStatus.active, reason="licence")
    return subscription


# --- invoices -----------------------------------------------------------------------------


async def issue_invoice(
    session: AsyncSession,
    subscription: Subscription,
    plan: Plan,
    *,
    issued_at: datetime | None = None,
) -> Invoice:
    """An open invoice for the subscription's current period, due by `due_date`."""
    issued_at = issued_at or utcnow()
    start = subscription.current_period_start
    end = subscription.current_period_end or start + BILLING_PERIOD
    return await InvoiceRepository(session, subscription.workspace_id).add(
        Invoice(
            subscription_id=subscription.id,
            number=f"INV-{month_period(start)}-{uuid.uuid4().hex[:10].upper()}",
            description=f"{plan.name} plan, {start:%Y-%m-%d} to {end:%Y-%m-%d}",
            amount_minor=plan.price_minor,
            currency=plan.currency,
            status=InvoiceStatus.open,
            period_start=start,
            period_end=end,
            due_at=due_date(subscription, issued_at),
        )
    )


def due_date(subscription: Subscription, issued_at: datetime) -> datetime:
    """Pay by the end of the trial; otherwise within the payment terms of issuing."""
    trial_end = subscription.trial_ends_at
    trialing = subscription.status == SubscriptionStatus.trialing
    if trialing and trial_end is not None and trial_end > issued_at:
        return trial_end
    return issued_at + PAYMENT_TERMS


async def _void_open_invoices(
    session: AsyncSession, subscription: Subscription, *, same_period_only: bool
) -> None:
    """Void invoices nobody owes any more. With `same_period_only` (a plan change) only the
    current period's are replaced: an earlier period's unpaid invoice stays a debt."""
    for invoice in await InvoiceRepository(session, subscription.workspace_id).open_for(
        subscription.id
    ):
        if not same_period_only or invoice.period_start == subscription.current_period_start:
            invoice.status = InvoiceStatus.void


async def list_invoices(
    session: AsyncSession, principal: Principal, *, limit: int, offset: int
) -> Page[Invoice]:
    require_billing_reader(principal)
    repository = InvoiceRepository(session, principal.workspace_id)
    return await repository.paginate(repository.listing(), limit=limit, offset=offset)


async def get_invoice(
    session: AsyncSession, principal: Principal, invoice_id: uuid.UUID
) -> Invoice:
    require_billing_reader(principal)
    return await InvoiceRepository(session, principal.workspace_id).get_or_raise(invoice_id)


async def settle_invoice(session: AsyncSession, invoice: Invoice) -> None:
    """A payment covered the invoice: mark it paid and bring its subscription to active."""
    invoice.status, invoice.paid_at = InvoiceStatus.paid, utcnow()
    if invoice.subscription_id is None:
        return
    subscription = await SubscriptionRepository(session, invoice.workspace_id).get(
        invoice.subscription_id
    )
    if subscription is not None:
        await transition(session, subscription, SubscriptionStatus.active, reason="invoice_paid")


async def _record(
    session: AsyncSession, principal: Principal, name: str, subscription: Subscription
) -> None:
    await events.record(
        session,
        workspace_id=principal.workspace_id,
        user_id=principal.user_id,
        name=name,
        properties={"subscription_id": str(subscription.id), "plan": subscription.plan},
    )
