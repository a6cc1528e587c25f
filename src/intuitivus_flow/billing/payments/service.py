"""The payments ledger, and `POST /api/billing/payments` made safe to retry.

With an `Idempotency-Key`, the key is inserted first, in the request's transaction, with
ON CONFLICT DO NOTHING. A concurrent retry of the same key blocks on that insert (PostgreSQL's
unique index; SQLite's single writer) until the first request commits, then finds the key
and replays the stored answer. If the first request fails, its key rolls back with it and a
retry does the work. The gateway gets a key derived from ours, so even a retry after a lost
commit cannot charge twice at Stripe.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.billing import service as billing
from intuitivus_flow.billing.exceptions import IdempotencyKeyReused, IdempotentRequestInProgress
from intuitivus_flow.billing.models import (
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    SubscriptionStatus,
)
from intuitivus_flow.billing.payments.gateways import ChargeRequest, PaymentGateway
from intuitivus_flow.billing.repository import (
    IdempotencyRepository,
    InvoiceRepository,
    PaymentRepository,
    SubscriptionRepository,
)
from intuitivus_flow.billing.schemas import PaymentCreate, PaymentRead
from intuitivus_flow.events import catalog
from intuitivus_flow.events import service as events
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.kit.errors import Conflict, InvalidInput
from intuitivus_flow.kit.repository import Page
from intuitivus_flow.observability.metrics import get_metrics

CREATE_OPERATION = "payments.create"


@dataclass(frozen=True, slots=True)
class PaymentOutcome:
    status_code: int
    body: dict[str, Any]
    replayed: bool


def fingerprint(data: PaymentCreate) -> str:
    canonical = json.dumps(data.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def create_payment(
    session: AsyncSession,
    principal: Principal,
    *,
    data: PaymentCreate,
    idempotency_key: str | None,
    gateway: PaymentGateway,
) -> PaymentOutcome:
    billing.require_billing_manager(principal)
    if idempotency_key is None:
        payment = await _collect(session, principal, data, gateway, f"flow-{uuid.uuid4()}")
        return PaymentOutcome(201, _body(payment), replayed=False)
    keys = IdempotencyRepository(session, principal.workspace_id)
    print_ = fingerprint(data)
    if not await keys.claim(CREATE_OPERATION, idempotency_key, print_):
        return await _replay(keys, idempotency_key, print_)
    gateway_key = (
        f"flow-{principal.workspace_id}-{hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]}"
    )
    payment = await _collect(session, principal, data, gateway, gateway_key)
    body = _body(payment)
    record = await keys.find(CREATE_OPERATION, idempotency_key)
    assert record is not None  # inserted above, in this transaction
    record.response_status, record.response_body = 201, body
    return PaymentOutcome(201, body, replayed=False)


async def _replay(keys: IdempotencyRepository, key: str, print_: str) -> PaymentOutcome:
    record = await keys.find(CREATE_OPERATION, key)
    if record is not None and record.fingerprint != print_:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used with a different request body", field="Idempotency-Key"
        )
    if record is None or record.response_status is None or record.response_body is None:
        # Only possible while the first request still runs where an insert does not wait.
        raise IdempotentRequestInProgress("A request with this Idempotency-Key is in progress")
    return PaymentOutcome(record.response_status, dict(record.response_body), replayed=True)


def _body(payment: Payment) -> dict[str, Any]:
    return PaymentRead.model_validate(payment).model_dump(mode="json")


async def _collect(
    session: AsyncSession,
    principal: Principal,
    data: PaymentCreate,
    gateway: PaymentGateway,
    gateway_key: str,
) -> Payment:
    invoice = await _invoice_for(session, principal, data)
    amount = invoice.amount_minor if invoice else data.amount_minor
    currency = invoice.currency if invoice else data.currency
    if amount is None or currency is None:
        raise InvalidInput("Give an invoice_id, or amount_minor and currency", field="amount_minor")
    description = data.description or (invoice.description if invoice else "")
    payment = await PaymentRepository(session, principal.workspace_id).add(
        Payment(
            invoice_id=invoice.id if invoice else None,
            amount_minor=amount,
            currency=currency,
            description=description,
            status=PaymentStatus.pending,
            gateway=gateway.name,
            created_by_id=principal.user_id,
        )
    )
    result = await gateway.charge(
        ChargeRequest(
            amount_minor=amount,
            currency=currency,
            description=description,
            idempotency_key=gateway_key,
            payment_method=data.payment_method,
            metadata={"workspace_id": str(principal.workspace_id), "payment_id": str(payment.id)},
        )
    )
    payment.status, payment.gateway_reference = result.status, result.reference
    payment.failure_message = result.failure_message
    get_metrics().payments_total.labels(provider=gateway.name, outcome=payment.status).inc()
    await session.flush()
    if invoice is not None:
        await follow_invoice(session, invoice, result.status)
    await events.record(
        session,
        workspace_id=principal.workspace_id,
        user_id=principal.user_id,
        name=catalog.PAYMENT_CREATED,
        properties={
            "payment_id": str(payment.id),
            "status": payment.status,
            "amount_minor": amount,
            "currency": currency,
            "gateway": gateway.name,
        },
    )
    return payment


async def _invoice_for(
    session: AsyncSession, principal: Principal, data: PaymentCreate
) -> Invoice | None:
    if data.invoice_id is None:
        return None
    invoice = await InvoiceRepository(session, principal.workspace_id).get_or_raise(data.invoice_id)
    if invoice.status != InvoiceStatus.open:
        raise Conflict(f"The invoice is {invoice.status}")
    if (data.amount_minor, data.currency) != (None, None) and (
        data.amount_minor != invoice.amount_minor or data.currency != invoice.currency
    ):
        raise InvalidInput("The amount must match the invoice", field="amount_minor")
    return invoice


async def follow_invoice(session: AsyncSession, invoice: Invoice, status: PaymentStatus) -> None:
    """What a payment's outcome does to its invoice and subscription (Stripe's answer, or an
    operator confirming or failing a manual payment)."""
    if status is PaymentStatus.succeeded:
        await billing.settle_invoice(session, invoice)
        return
    if status is not PaymentStatus.failed or invoice.subscription_id is None:
        return
    subscription = await SubscriptionRepository(session, invoice.workspace_id).get(
        invoice.subscription_id
    )
    # A failed charge of a live subscription's invoice makes it past due (not canceled yet).
    if subscription is not None and subscription.status in {
        SubscriptionStatus.trialing,
        SubscriptionStatus.active,
    }:
        await billing.transition(
            session, subscription, SubscriptionStatus.past_due, reason="payment_failed"
        )


async def list_payments(
    session: AsyncSession, principal: Principal, *, limit: int, offset: int
) -> Page[Payment]:
    billing.require_billing_reader(principal)
    repository = PaymentRepository(session, principal.workspace_id)
    return await repository.paginate(repository.listing(), limit=limit, offset=offset)


async def get_payment(
    session: AsyncSession, principal: Principal, payment_id: uuid.UUID
) -> Payment:
    billing.require_billing_reader(principal)
    return await PaymentRepository(session, principal.workspace_id).get_or_raise(payment_id)
