from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from intuitivus_flow.billing.models import (
    InvoiceStatus,
    LicenceStatus,
    PaymentStatus,
    SubscriptionStatus,
)
from intuitivus_flow.billing.plans import Limit, PlanId
from intuitivus_flow.kit.pagination import PaginatedResponse

CURRENCY = Field(
    default=None, pattern=r"^[A-Z]{3}$", description="ISO 4217 code, upper case.", examples=["USD"]
)
# Integer minor units (cents); the cap keeps every engine's INTEGER and every gateway happy.
MAX_AMOUNT_MINOR = 99_999_999


class PlanRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: PlanId
    name: str
    price_minor: int
    currency: str
    trial_days: int
    max_agents: int
    max_members: int
    max_monthly_messages: int


class SubscriptionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    plan: str
    status: SubscriptionStatus
    trial_ends_at: datetime | None
    current_period_start: datetime
    current_period_end: datetime | None
    canceled_at: datetime | None
    licence_id: uuid.UUID | None
    created_at: datetime


class PlanChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: PlanId


class LimitUsageRead(BaseModel):
    limit: Limit
    used: int
    allowed: int


class UsageRead(BaseModel):
    plan: PlanRead
    subscription: SubscriptionRead | None
    period: str = Field(description="Calendar month (UTC) the message count covers.")
    limits: list[LimitUsageRead]


class InvoiceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    number: str
    description: str
    amount_minor: int
    currency: str
    status: InvoiceStatus
    period_start: datetime | None
    period_end: datetime | None
    due_at: datetime | None = Field(
        description="Unpaid after this, the subscription becomes past_due (and is canceled "
        "after the grace period)."
    )
    paid_at: datetime | None
    created_at: datetime


class InvoicePage(PaginatedResponse[InvoiceRead]):
    pass


class PaymentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    invoice_id: uuid.UUID | None = Field(
        default=None, description="Pay this open invoice (amount and currency follow it)."
    )
    amount_minor: int | None = Field(default=None, ge=1, le=MAX_AMOUNT_MINOR)
    currency: str | None = CURRENCY
    description: str = Field(default="", max_length=200)
    payment_method: str | None = Field(
        default=None,
        max_length=100,
        pattern=r"^[A-Za-z0-9_]+$",
        description="Stripe PaymentMethod id to charge at once (e.g. pm_card_visa).",
    )


class PaymentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    invoice_id: uuid.UUID | None
    amount_minor: int
    currency: str
    description: str
    status: PaymentStatus
    gateway: str
    gateway_reference: str | None
    failure_message: str | None
    created_at: datetime


class PaymentPage(PaginatedResponse[PaymentRead]):
    pass


class InvoiceCheckoutRead(BaseModel):
    payment: PaymentRead
    checkout_url: str | None = Field(
        description="Send the payer here to pay (Stripe Checkout); null when there is nothing "
        "to do there (the manual gateway: an operator confirms the payment)."
    )
    created: bool = Field(
        description="False when this is the attempt already in progress for the invoice."
    )


class DeskPaymentRead(PaymentRead):
    """A manual payment as the instance's operators see it: with its workspace."""

    workspace_id: uuid.UUID
    workspace_name: str


class DeskPaymentPage(PaginatedResponse[DeskPaymentRead]):
    pass


class PaymentDecisionRead(DeskPaymentRead):
    changed: bool = Field(
        description="False when the payment already had this outcome (a repeat changes nothing)."
    )


class PaymentFailure(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        min_length=1,
        max_length=500,
        description="Why the money will not come; the workspace sees it on the payment.",
    )


class LicenceRedeem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    licence_key: str = Field(min_length=10, max_length=100)


class LicenceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    key_hint: str = Field(description="The last characters of the key; the key is never shown.")
    platform: str
    plan: str
    status: LicenceStatus
    redeemed_at: datetime | None
    revoked_at: datetime | None
    revoke_reason: str | None
    created_at: datetime


class LicencePage(PaginatedResponse[LicenceRead]):
    pass


class WebhookAck(BaseModel):
    status: str = Field(description="processed, duplicate or ignored")
    event_id: str
