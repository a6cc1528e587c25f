"""Billing tables. Money is always an integer of minor units (cents) with an ISO 4217 code."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from intuitivus_flow.kit.models import Base, IdMixin, TimestampMixin, str_enum, utcnow


class SubscriptionStatus(StrEnum):
    trialing = "trialing"
    active = "active"
    past_due = "past_due"
    canceled = "canceled"


class InvoiceStatus(StrEnum):
    open = "open"
    paid = "paid"
    void = "void"


class PaymentStatus(StrEnum):
    pending = "pending"  # waiting for an operator (manual gateway) or the payer
    requires_action = "requires_action"  # e.g. 3-D Secure at Stripe
    succeeded = "succeeded"
    failed = "failed"


class LicenceStatus(StrEnum):
    available = "available"
    redeemed = "redeemed"
    revoked = "revoked"


class Subscription(IdMixin, TimestampMixin, Base):
    """A workspace's plan and where it stands; at most one per workspace."""

    __tablename__ = "billing_subscriptions"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), unique=True
    )
    plan: Mapped[str] = mapped_column(String(32))
    status: Mapped[SubscriptionStatus] = mapped_column(str_enum(SubscriptionStatus))
    trial_ends_at: Mapped[datetime | None] = mapped_column(default=None)
    current_period_start: Mapped[datetime] = mapped_column(default=utcnow)
    current_period_end: Mapped[datetime | None] = mapped_column(default=None)
    canceled_at: Mapped[datetime | None] = mapped_column(default=None)
    licence_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("billing_licences.id", ondelete="SET NULL"), default=None
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Invoice(IdMixin, TimestampMixin, Base):
    __tablename__ = "billing_invoices"
    # The sweep's question across every workspace: which open invoices are overdue?
    __table_args__ = (Index("ix_billing_invoices_status_due_at", "status", "due_at"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("billing_subscriptions.id", ondelete="SET NULL"), default=None
    )
    number: Mapped[str] = mapped_column(String(40), unique=True)
    description: Mapped[str] = mapped_column(String(200), default="")
    amount_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[InvoiceStatus] = mapped_column(
        str_enum(InvoiceStatus), default=InvoiceStatus.open
    )
    period_start: Mapped[datetime | None] = mapped_column(default=None)
    period_end: Mapped[datetime | None] = mapped_column(default=None)
    paid_at: Mapped[datetime | None] = mapped_column(default=None)
    # Unpaid after this, the subscription goes past_due (and is canceled after the grace
    # period). Set on every invoice issued since 0015; older paid/void ones have none.
    due_at: Mapped[datetime | None] = mapped_column(default=None)


class Payment(IdMixin, TimestampMixin, Base):
    """One entry of the payments ledger: an attempt to collect money, and its outcome."""

    __tablename__ = "billing_payments"
    # The operators' desk lists pending manual payments across every workspace.
    __table_args__ = (Index("ix_billing_payments_gateway_status", "gateway", "status"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("billing_invoices.id", ondelete="SET NULL"), default=None, index=True
    )
    amount_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[PaymentStatus] = mapped_column(str_enum(PaymentStatus, length=20))
    gateway: Mapped[str] = mapped_column(String(20))
    gateway_reference: Mapped[str | None] = mapped_column(String(200), default=None)
    failure_message: Mapped[str | None] = mapped_column(String(500), default=None)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class IdempotencyRecord(IdMixin, TimestampMixin, Base):
    """An `Idempotency-Key` seen for an operation: the request's fingerprint and the answer.

    The unique key is the lock: a concurrent retry waits on it (PostgreSQL) and then replays
    the stored answer instead of doing the work again.
    """

    __tablename__ = "billing_idempotency_keys"
    __table_args__ = (UniqueConstraint("workspace_id", "operation", "key"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    operation: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int | None] = mapped_column(Integer, default=None)
    response_body: Mapped[dict[str, Any] | None] = mapped_column(default=None)


class Licence(IdMixin, TimestampMixin, Base):
    """A licence bought on a payment platform. The key is stored as a SHA-256 digest only.

    Licences belong to the seller, not to a workspace, until one redeems it
    (`redeemed_workspace_id`). `delivery_ciphertext` holds the key, encrypted, only until the
    e-mail that delivers it to the buyer has been sent.
    """

    __tablename__ = "billing_licences"
    __table_args__ = (UniqueConstraint("platform", "external_ref"),)

    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_hint: Mapped[str] = mapped_column(String(8))
    platform: Mapped[str] = mapped_column(String(16))
    external_ref: Mapped[str] = mapped_column(String(200))
    buyer_email: Mapped[str | None] = mapped_column(String(320), default=None)
    plan: Mapped[str] = mapped_column(String(32))
    status: Mapped[LicenceStatus] = mapped_column(
        str_enum(LicenceStatus), default=LicenceStatus.available
    )
    redeemed_workspace_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="SET NULL"), default=None, index=True
    )
    redeemed_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoke_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    delivery_ciphertext: Mapped[str | None] = mapped_column(Text, default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)


class WebhookEvent(IdMixin, TimestampMixin, Base):
    """A payment-platform event, kept so a redelivery is recognised and changes nothing."""

    __tablename__ = "billing_webhook_events"
    __table_args__ = (UniqueConstraint("platform", "event_id"),)

    platform: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(32))
    licence_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("billing_licences.id", ondelete="SET NULL"), default=None
    )


class MessageUsage(IdMixin, Base):
    """Messages a workspace sent in one calendar month (UTC), the counter behind the quota."""

    __tablename__ = "billing_message_usage"
    __table_args__ = (UniqueConstraint("workspace_id", "period"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(7))  # "2026-11"
    messages: Mapped[int] = mapped_column(Integer, default=0)
