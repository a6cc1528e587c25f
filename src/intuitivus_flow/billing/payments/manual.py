"""Operators confirm or fail the manual gateway's pending payments: billing's one cross-tenant
action.

Without a Stripe key, a payment waits as `pending` while an operator collects the money outside
the product (a bank transfer, an invoice paid by cheque...). The instance's operators then
confirm it (it succeeded: its invoice is paid and the subscription active, exactly as after a
successful Stripe charge) or fail it (the subscription goes past_due, as after a declined
card). They act on *any* workspace's payment, which no other billing action does, so every
function here needs a `PaymentOperator`, and only `operator_for` (checked) and
`shell_operator` (the CLI, whose user has the database anyway) make one.

A decision is a conditional `UPDATE ... WHERE status = 'pending'`: of two operators acting at
once exactly one changes the payment and the other is told what it now is. Repeating a
decision changes nothing (`changed=False`); contradicting one is a 409.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.billing.models import InvoiceStatus, Payment, PaymentStatus
from intuitivus_flow.billing.payments.service import follow_invoice
from intuitivus_flow.billing.repository import InvoiceRepository, PaymentDeskRepository
from intuitivus_flow.config import Settings
from intuitivus_flow.events import catalog
from intuitivus_flow.events import service as events
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.roles import Role
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.kit.repository import Page

MAX_REASON_LENGTH = 500
# What each decision is called in messages and events.
OUTCOME_WORDS = {PaymentStatus.succeeded: "confirmed", PaymentStatus.failed: "failed"}


@dataclass(frozen=True, slots=True)
class PaymentOperator:
    """Someone allowed to settle any workspace's manual payments."""

    principal: Principal | None  # None: the shell (`intuitivus-flow billing ...`)

    @property
    def by(self) -> str:
        return "operator" if self.principal is not None else "shell"


@dataclass(frozen=True, slots=True)
class DeskPayment:
    """A payment as the operators' desk shows it: with the workspace it belongs to."""

    payment: Payment
    workspace_name: str


@dataclass(frozen=True, slots=True)
class Decision:
    payment: Payment
    workspace_name: str
    changed: bool  # False: the payment already had this outcome (a repeat changes nothing)


def operator_for(principal: Principal, settings: Settings) -> PaymentOperator:
    """Owners and admins of `FLOW_OPERATOR_WORKSPACES`, with the billing:write scope.

    The operators are the same people as for service health and alerts
    (`auth.operators.require_operator`), without that rule's fallback to the first workspace
    created: confirming money stays off until the setting names the operators explicitly.
    """
    principal.require_role(Role.admin)
    principal.require_scope(Scope.billing_write)
    if principal.workspace_id not in settings.operator_workspaces:
        raise Forbidden(
            "Only the operators of this instance (FLOW_OPERATOR_WORKSPACES) may settle "
            "manual payments"
        )
    return PaymentOperator(principal)


def is_operator(principal: Principal, settings: Settings) -> bool:
    try:
        operator_for(principal, settings)
    except Forbidden:
        return False
    return True


def shell_operator() -> PaymentOperator:
    """The CLI: whoever runs it can reach the database, so they act as an operator."""
    return PaymentOperator(principal=None)


async def list_pending(
    session: AsyncSession, operator: PaymentOperator, *, limit: int, offset: int
) -> Page[DeskPayment]:
    """Pending manual payments of every workspace, oldest first."""
    desk = PaymentDeskRepository(session)
    return await _desk_page(desk, await desk.paginate(desk.pending(), limit=limit, offset=offset))


async def list_recent(
    session: AsyncSession, operator: PaymentOperator, *, limit: int, offset: int
) -> Page[DeskPayment]:
    """Manual payments of every workspace in any status, newest first."""
    desk = PaymentDeskRepository(session)
    return await _desk_page(desk, await desk.paginate(desk.recent(), limit=limit, offset=offset))


async def _desk_page(desk: PaymentDeskRepository, page: Page[Payment]) -> Page[DeskPayment]:
    names = await desk.workspace_names({payment.workspace_id for payment in page.items})
    items = [DeskPayment(payment, names.get(payment.workspace_id, "")) for payment in page.items]
    return Page(items=items, total=page.total, limit=page.limit, offset=page.offset)


async def confirm(
    session: AsyncSession, operator: PaymentOperator, payment_id: uuid.UUID
) -> Decision:
    """The money arrived: the payment succeeded, its open invoice is paid, the subscription
    active."""
    return await _decide(session, operator, payment_id, PaymentStatus.succeeded, reason=None)


async def mark_failed(
    session: AsyncSession, operator: PaymentOperator, payment_id: uuid.UUID, *, reason: str
) -> Decision:
    """The money will not come: the payment failed (with `reason`, shown to the workspace);
    a live subscription whose invoice it was for goes past_due."""
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON_LENGTH:
        raise InvalidInput(f"Give a reason of 1 to {MAX_REASON_LENGTH} characters", field="reason")
    return await _decide(session, operator, payment_id, PaymentStatus.failed, reason=reason)


async def _decide(
    session: AsyncSession,
    operator: PaymentOperator,
    payment_id: uuid.UUID,
    outcome: PaymentStatus,
    *,
    reason: str | None,
) -> Decision:
    desk = PaymentDeskRepository(session)
    changed = await desk.settle(payment_id, outcome, failure_message=reason, now=utcnow())
    payment = await desk.reload(payment_id)
    if payment is None:
        raise NotFound("Payment not found")
    names = await desk.workspace_names({payment.workspace_id})
    decision = Decision(payment, names.get(payment.workspace_id, ""), changed)
    if not changed:
        if payment.status != outcome:
            raise Conflict(f"This payment is already {payment.status}; it cannot be changed")
        return decision
    await _follow_invoice_of(session, payment, outcome)
    await _record(session, operator, payment, outcome, reason)
    return decision


async def _follow_invoice_of(
    session: AsyncSession, payment: Payment, outcome: PaymentStatus
) -> None:
    if payment.invoice_id is None:
        return
    invoice = await InvoiceRepository(session, payment.workspace_id).get(payment.invoice_id)
    # An invoice settled meanwhile (another payment) or voided is left as it is; the money of a
    # second payment is the operator's to return.
    if invoice is not None and invoice.status == InvoiceStatus.open:
        await follow_invoice(session, invoice, outcome)


async def _record(
    session: AsyncSession,
    operator: PaymentOperator,
    payment: Payment,
    outcome: PaymentStatus,
    reason: str | None,
) -> None:
    details = {"payment_id": str(payment.id), **({"reason": reason} if reason else {})}
    # The workspace sees what happened to its payment, not which operator did it.
    await events.record(
        session,
        workspace_id=payment.workspace_id,
        name=(
            catalog.PAYMENT_CONFIRMED
            if outcome is PaymentStatus.succeeded
            else catalog.PAYMENT_MARKED_FAILED
        ),
        properties={
            **details,
            "amount_minor": payment.amount_minor,
            "currency": payment.currency,
            "by": operator.by,
        },
    )
    if operator.principal is not None:
        # The operators' own trail of cross-tenant actions, in their workspace.
        await events.record(
            session,
            workspace_id=operator.principal.workspace_id,
            user_id=operator.principal.user_id,
            name=catalog.OPERATOR_PAYMENT_SETTLED,
            properties={
                **details,
                "workspace_id": str(payment.workspace_id),
                "outcome": OUTCOME_WORDS[outcome],
            },
        )
