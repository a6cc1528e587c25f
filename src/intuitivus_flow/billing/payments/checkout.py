"""Paying an open invoice from the Billing page (or `POST /api/billing/invoices/{id}/pay`).

With Stripe configured the payer goes to Stripe Checkout and comes back to a return address
that asks Stripe how it ended; without it the manual gateway records the payment as pending
for the operators' desk (billing/payments/manual.py). Either way the payment is a row of the
ledger, linked to its invoice.

One attempt per invoice at a time: the invoice row is locked (SELECT ... FOR UPDATE, SQLite's
write lock) while the attempt in progress is looked up, so a double click, a retry or a second
tab finds the first attempt (and its Checkout page) instead of starting another.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.billing import service as billing
from intuitivus_flow.billing.models import Invoice, InvoiceStatus, Payment, PaymentStatus
from intuitivus_flow.billing.payments.gateways import (
    CheckoutRequest,
    CheckoutResult,
    PaymentGateway,
)
from intuitivus_flow.billing.payments.service import follow_invoice
from intuitivus_flow.billing.repository import InvoiceRepository, PaymentRepository
from intuitivus_flow.events import catalog
from intuitivus_flow.events import service as events
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.kit.errors import Conflict, NotFound
from intuitivus_flow.observability.metrics import get_metrics

IN_PROGRESS = frozenset({PaymentStatus.pending, PaymentStatus.requires_action})
RETURN_PATH = "/billing/payments/{payment_id}/return"


@dataclass(frozen=True, slots=True)
class InvoiceCheckout:
    payment: Payment
    # Where the payer pays now (Stripe Checkout); None: nothing to do there (manual desk).
    redirect_url: str | None
    created: bool  # False: the attempt already in progress, returned again


def return_url(public_url: str, payment_id: uuid.UUID) -> str:
    return public_url.rstrip("/") + RETURN_PATH.format(payment_id=payment_id)


async def pay_invoice(
    session: AsyncSession,
    principal: Principal,
    invoice_id: uuid.UUID,
    *,
    gateway: PaymentGateway,
    public_url: str,
) -> InvoiceCheckout:
    """Start paying an open invoice, or return the attempt already in progress."""
    billing.require_billing_manager(principal)
    invoices = InvoiceRepository(session, principal.workspace_id)
    invoice = await invoices.get_for_update(invoice_id)
    if invoice is None:
        raise NotFound(invoices.not_found_message)
    current = await PaymentRepository(session, principal.workspace_id).in_progress_for(invoice.id)
    if current is not None:
        state = await _sync(session, current, invoice, gateway)
        if current.status in IN_PROGRESS:
            return InvoiceCheckout(current, state.redirect_url if state else None, created=False)
    if invoice.status != InvoiceStatus.open:
        raise Conflict(f"The invoice is {invoice.status}; there is nothing to pay")
    return await _start(session, principal, invoice, gateway, public_url)


async def _start(
    session: AsyncSession,
    principal: Principal,
    invoice: Invoice,
    gateway: PaymentGateway,
    public_url: str,
) -> InvoiceCheckout:
    payment = await PaymentRepository(session, principal.workspace_id).add(
        Payment(
            invoice_id=invoice.id,
            amount_minor=invoice.amount_minor,
            currency=invoice.currency,
            description=invoice.description,
            status=PaymentStatus.pending,
            gateway=gateway.name,
            created_by_id=principal.user_id,
        )
    )
    result = await gateway.start_checkout(
        CheckoutRequest(
            amount_minor=invoice.amount_minor,
            currency=invoice.currency,
            description=invoice.description or f"Invoice {invoice.number}",
            # One Checkout session per payment row, even if this request is retried.
            idempotency_key=f"flow-checkout-{payment.id}",
            return_url=return_url(public_url, payment.id),
            metadata={
                "workspace_id": str(principal.workspace_id),
                "payment_id": str(payment.id),
                "invoice_id": str(invoice.id),
            },
        )
    )
    payment.status, payment.gateway_reference = result.status, result.reference
    payment.failure_message = result.failure_message
    get_metrics().payments_total.labels(provider=gateway.name, outcome=payment.status).inc()
    await session.flush()
    await events.record(
        session,
        workspace_id=principal.workspace_id,
        user_id=principal.user_id,
        name=catalog.PAYMENT_CREATED,
        properties={
            "payment_id": str(payment.id),
            "invoice_id": str(invoice.id),
            "status": payment.status,
            "amount_minor": payment.amount_minor,
            "currency": payment.currency,
            "gateway": gateway.name,
        },
    )
    return InvoiceCheckout(payment, result.redirect_url, created=True)


async def refresh_payment(
    session: AsyncSession, principal: Principal, payment_id: uuid.UUID, *, gateway: PaymentGateway
) -> Payment:
    """Ask the gateway how a payment in progress stands (the payer is back from Checkout)."""
    billing.require_billing_manager(principal)
    payments = PaymentRepository(session, principal.workspace_id)
    payment = await payments.get_for_update(payment_id)
    if payment is None:
        raise NotFound(payments.not_found_message)
    invoice = None
    if payment.invoice_id is not None:
        invoice = await InvoiceRepository(session, principal.workspace_id).get(payment.invoice_id)
    await _sync(session, payment, invoice, gateway)
    return payment


async def _sync(
    session: AsyncSession, payment: Payment, invoice: Invoice | None, gateway: PaymentGateway
) -> CheckoutResult | None:
    """Bring a payment in progress up to the gateway's word; None when it cannot tell (another
    gateway's payment, or one that never reached it)."""
    if (
        payment.status not in IN_PROGRESS
        or payment.gateway != gateway.name
        or not payment.gateway_reference
    ):
        return None
    state = await gateway.checkout_state(payment.gateway_reference)
    if state is None or state.status == payment.status:
        return state
    payment.status, payment.failure_message = state.status, state.failure_message
    await session.flush()
    if invoice is not None and invoice.status == InvoiceStatus.open:
        await follow_invoice(session, invoice, state.status)
    return state
