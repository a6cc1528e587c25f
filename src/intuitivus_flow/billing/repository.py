"""All SQL of billing. Workspace data goes through `WorkspaceRepository`; licences and webhook
events belong to the seller (no workspace) and are looked up by their own keys.

Two repositories read across workspaces on purpose, and nothing else in billing does:
`PaymentDeskRepository` (the instance operators' pending manual payments) and
`SweepRepository` (the system's periodic subscription sweep). Neither is reachable by a
workspace's own principal: the desk needs a `PaymentOperator`, the sweep runs as a job.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from intuitivus_flow.billing.models import (
    IdempotencyRecord,
    Invoice,
    InvoiceStatus,
    Licence,
    LicenceStatus,
    MessageUsage,
    Payment,
    PaymentStatus,
    Subscription,
    SubscriptionStatus,
    WebhookEvent,
)
from intuitivus_flow.kit.errors import NotFound
from intuitivus_flow.kit.repository import Repository, WorkspaceRepository
from intuitivus_flow.workspaces.models import Workspace

MANUAL_GATEWAY = "manual"


def _insert(session: AsyncSession, model: type[Any]) -> Any:
    """INSERT with ON CONFLICT support for the engine in use (both dialects have it)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


class SubscriptionRepository(WorkspaceRepository[Subscription]):
    model = Subscription
    not_found_message = "This workspace has no subscription"

    async def current(self) -> Subscription | None:
        return await self.first(self.scoped())

    async def get_or_raise_current(self) -> Subscription:
        found = await self.current()
        if found is None:
            raise NotFound(self.not_found_message)
        return found


class InvoiceRepository(WorkspaceRepository[Invoice]):
    model = Invoice
    not_found_message = "Invoice not found"

    def listing(self) -> Select[Invoice]:
        return self.scoped().order_by(Invoice.created_at.desc(), Invoice.id)

    async def open_for(self, subscription_id: uuid.UUID) -> Sequence[Invoice]:
        return await self.all(
            self.scoped().where(
                Invoice.subscription_id == subscription_id,
                Invoice.status == InvoiceStatus.open,
            )
        )


class PaymentRepository(WorkspaceRepository[Payment]):
    model = Payment
    not_found_message = "Payment not found"

    def listing(self) -> Select[Payment]:
        return self.scoped().order_by(Payment.created_at.desc(), Payment.id)

    async def in_progress_for(self, invoice_id: uuid.UUID) -> Payment | None:
        """The newest payment of the invoice still waiting for its outcome."""
        return await self.first(
            self.scoped()
            .where(
                Payment.invoice_id == invoice_id,
                Payment.status.in_([PaymentStatus.pending, PaymentStatus.requires_action]),
            )
            .order_by(Payment.created_at.desc(), Payment.id)
        )


class IdempotencyRepository(WorkspaceRepository[IdempotencyRecord]):
    model = IdempotencyRecord

    async def claim(self, operation: str, key: str, fingerprint: str) -> bool:
        """Insert the key; False when it exists. On PostgreSQL a concurrent insert of the same
        key waits here until the first transaction ends, so the loser then sees its answer."""
        statement = (
            _insert(self.session, IdempotencyRecord)
            .values(
                id=uuid.uuid4(),
                workspace_id=self.workspace_id,
                operation=operation,
                key=key,
                fingerprint=fingerprint,
            )
            .on_conflict_do_nothing(index_elements=["workspace_id", "operation", "key"])
            .returning(IdempotencyRecord.id)
        )
        return (await self.execute(statement)).scalar() is not None

    async def find(self, operation: str, key: str) -> IdempotencyRecord | None:
        return await self.first(
            self.scoped()
            .where(IdempotencyRecord.operation == operation, IdempotencyRecord.key == key)
            .execution_options(populate_existing=True)
        )


class MessageUsageRepository(WorkspaceRepository[MessageUsage]):
    model = MessageUsage

    async def used(self, period: str) -> int:
        value = await self.scalar(
            select(MessageUsage.messages).where(MessageUsage.period == period)
        )
        return int(value or 0)

    async def add_within(self, period: str, count: int, *, allowed: int) -> int | None:
        """Add `count` to the period's counter when the total stays within `allowed`: the new
        total, or None (and nothing added) when it would not.

        One upsert whose update has a condition: PostgreSQL locks the counter row and checks
        the condition on its latest committed version, SQLite runs it under its write lock,
        so concurrent senders are counted one after the other and never pass together.
        """
        if count > allowed:
            return None
        insert = _insert(self.session, MessageUsage).values(
            id=uuid.uuid4(), workspace_id=self.workspace_id, period=period, messages=count
        )
        statement = insert.on_conflict_do_update(
            index_elements=["workspace_id", "period"],
            set_={"messages": MessageUsage.messages + count},
            where=MessageUsage.messages + count <= allowed,
        ).returning(MessageUsage.messages)
        total: int | None = (await self.execute(statement)).scalar()
        return total


class LicenceRepository(Repository[Licence]):
    """Licences by key digest or platform order; "my licences" by the redeeming workspace."""

    model = Licence
    not_found_message = "Licence not found"

    async def by_key_hash(self, key_hash: str) -> Licence | None:
        return await self.first(self.scoped().where(Licence.key_hash == key_hash))

    async def by_ref(self, platform: str, external_ref: str) -> Licence | None:
        return await self.first(
            self.scoped().where(Licence.platform == platform, Licence.external_ref == external_ref)
        )

    async def claim_for(
        self, licence_id: uuid.UUID, workspace_id: uuid.UUID, now: datetime
    ) -> bool:
        """Mark an available licence redeemed; False when it was not available any more."""
        result = await self.session.execute(
            update(Licence)
            .where(Licence.id == licence_id, Licence.status == LicenceStatus.available)
            .values(
                status=LicenceStatus.redeemed,
                redeemed_workspace_id=workspace_id,
                redeemed_at=now,
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def redeemed_by(self, workspace_id: uuid.UUID) -> Select[Licence]:
        return (
            self.scoped()
            .where(Licence.redeemed_workspace_id == workspace_id)
            .order_by(Licence.redeemed_at.desc(), Licence.id)
        )


class WebhookEventRepository(Repository[WebhookEvent]):
    model = WebhookEvent

    async def claim(self, platform: str, event_id: str, event_type: str) -> uuid.UUID | None:
        """Record the event; None when it was already recorded (a redelivery)."""
        statement = (
            _insert(self.session, WebhookEvent)
            .values(
                id=uuid.uuid4(),
                platform=platform,
                event_id=event_id,
                event_type=event_type,
                outcome="received",
            )
            .on_conflict_do_nothing(index_elements=["platform", "event_id"])
            .returning(WebhookEvent.id)
        )
        inserted: uuid.UUID | None = (await self.session.execute(statement)).scalar()
        return inserted


class PaymentDeskRepository(Repository[Payment]):
    """Manual payments of every workspace, for the instance's operators (cross-tenant)."""

    model = Payment
    not_found_message = "Payment not found"

    def scoped(self) -> Select[Payment]:
        # Only the manual gateway's payments are an operator's business; Stripe settles its own.
        return select(Payment).where(Payment.gateway == MANUAL_GATEWAY)

    def pending(self) -> Select[Payment]:
        """Oldest first: the customer who has waited longest is served first."""
        return (
            self.scoped()
            .where(Payment.status == PaymentStatus.pending)
            .order_by(Payment.created_at, Payment.id)
        )

    def recent(self) -> Select[Payment]:
        return self.scoped().order_by(Payment.created_at.desc(), Payment.id)

    async def workspace_names(self, workspace_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
        if not workspace_ids:
            return {}
        rows = await self.session.execute(
            select(Workspace.id, Workspace.name).where(Workspace.id.in_(workspace_ids))
        )
        return {row.id: row.name for row in rows}

    async def settle(
        self,
        payment_id: uuid.UUID,
        to: PaymentStatus,
        *,
        failure_message: str | None,
        now: datetime,
    ) -> bool:
        """Move a pending manual payment to `to`; False when it was not pending any more.

        The status condition is the lock: of two operators acting at once, exactly one UPDATE
        matches (PostgreSQL re-checks the condition after waiting for the other's commit).
        """
        result = await self.session.execute(
            update(Payment)
            .where(
                Payment.id == payment_id,
                Payment.gateway == MANUAL_GATEWAY,
                Payment.status == PaymentStatus.pending,
            )
            .values(status=to, failure_message=failure_message, updated_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def reload(self, payment_id: uuid.UUID) -> Payment | None:
        """The row as committed now (not the session's cached copy)."""
        return await self.first(
            self.scoped().where(Payment.id == payment_id).execution_options(populate_existing=True)
        )


class SweepRepository:
    """What the periodic billing sweep acts on, across every workspace (a system job).

    Rows are locked FOR UPDATE SKIP LOCKED on PostgreSQL: a payment or another sweep working
    on the same subscription or invoice right now is left alone (the next sweep sees it).
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def with_overdue_invoice(
        self, statuses: Collection[SubscriptionStatus], due_before: datetime
    ) -> Sequence[Subscription]:
        """Subscriptions in `statuses` with an open invoice due before `due_before`."""
        statement = (
            select(Subscription)
            .join(Invoice, Invoice.subscription_id == Subscription.id)
            .where(
                Subscription.licence_id.is_(None),  # a licence pays its plan: nothing to chase
                Subscription.status.in_(list(statuses)),
                Invoice.status == InvoiceStatus.open,
                Invoice.due_at <= due_before,
            )
            .order_by(Subscription.id)
            .with_for_update(skip_locked=True)
        )
        found = (await self.session.execute(statement)).scalars().all()
        return list(dict.fromkeys(found))  # one row per overdue invoice: keep each once

    async def due_for_renewal(
        self, now: datetime, statuses: Collection[SubscriptionStatus], plans: Collection[str]
    ) -> Sequence[Subscription]:
        statement = (
            select(Subscription)
            .where(
                Subscription.licence_id.is_(None),
                Subscription.status.in_(list(statuses)),
                Subscription.plan.in_(list(plans)),
                Subscription.current_period_end.is_not(None),
                Subscription.current_period_end <= now,
            )
            .order_by(Subscription.current_period_end, Subscription.id)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.execute(statement)).scalars().all()

    async def advance_period(
        self, subscription: Subscription, *, start: datetime, end: datetime
    ) -> bool:
        """Compare-and-set on the period's end: one renewal per period, whoever runs it."""
        result = await self.session.execute(
            update(Subscription)
            .where(
                Subscription.id == subscription.id,
                Subscription.current_period_end == subscription.current_period_end,
            )
            .values(current_period_start=start, current_period_end=end)
            .execution_options(synchronize_session=False)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return False
        # Written above; tell the loaded row without making the ORM write it a second time.
        set_committed_value(subscription, "current_period_start", start)
        set_committed_value(subscription, "current_period_end", end)
        return True
