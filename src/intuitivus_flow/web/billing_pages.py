"""The Billing page for owners and admins: plan, usage against limits, invoices, payments,
and forms to change plan or redeem a licence key. And the operators' desk
(`/operator/payments`): the manual gateway's pending payments of every workspace, to confirm
or fail, for the instance's operators only (billing/payments/manual.py).

Actions follow post/redirect/get; a failure re-renders the page with its message.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.billing import service as billing
from intuitivus_flow.billing.licences import service as licences
from intuitivus_flow.billing.models import Payment, PaymentStatus
from intuitivus_flow.billing.payments import checkout
from intuitivus_flow.billing.payments import manual as manual_payments
from intuitivus_flow.billing.payments import service as payments
from intuitivus_flow.billing.payments.gateways import gateway_for
from intuitivus_flow.billing.payments.manual import PaymentOperator
from intuitivus_flow.billing.plans import PLANS, PlanId
from intuitivus_flow.identity.roles import Role
from intuitivus_flow.kit.errors import FlowError
from intuitivus_flow.kit.http.deps import DbSession
from intuitivus_flow.web import csrf
from intuitivus_flow.web.auth import CurrentViewer, Viewer
from intuitivus_flow.web.forms import (
    FormInvalid,
    FormState,
    PageState,
    echo,
    form_action,
    parse_id,
    read_fields,
)
from intuitivus_flow.web.templating import policy_with_form_targets, redirect, render

router = APIRouter(include_in_schema=False)
csrf_checked = [Depends(csrf.require_csrf)]
ROWS = 20
DESK_ROWS = 100
NOTICES = {
    "plan": "Your plan was changed.",
    "licence": "The licence was redeemed.",
    "paid": "Thank you: the payment succeeded and the invoice is paid.",
    "pay_pending": (
        "Your payment is recorded and waits for an operator of this instance to confirm it; "
        "the invoice stays open until then."
    ),
    "pay_waiting": (
        "A payment for this invoice is already waiting for an operator to confirm it; "
        "nothing new was recorded."
    ),
    "pay_open": "The payment was not completed. Pay the invoice again when you are ready.",
    "pay_failed": "The payment failed; the invoice is still open. You can try again.",
}
# Where the payer lands after the gateway, by the payment's status.
RETURN_NOTICES = {
    PaymentStatus.succeeded: "paid",
    PaymentStatus.failed: "pay_failed",
    PaymentStatus.pending: "pay_open",
    PaymentStatus.requires_action: "pay_open",
}
DESK_NOTICES = {
    "confirmed": "The payment was confirmed: its invoice is paid.",
    "failed": "The payment was marked failed.",
    "unchanged": "That payment already had this outcome; nothing changed.",
}


def _not_allowed(request: Request, viewer: Viewer, message: str) -> Response:
    context = {"viewer": viewer, "title": "Not allowed", "message": message}
    return render(request, "error.html", context, status_code=403)


def _refusal(request: Request, viewer: Viewer) -> Response | None:
    if viewer.principal.role.rank >= Role.admin.rank:
        return None
    return _not_allowed(request, viewer, "Billing is available to workspace owners and admins.")


async def _render(
    request: Request, session: AsyncSession, viewer: Viewer, state: PageState
) -> Response:
    principal = viewer.principal
    settings = request.app.state.context.settings
    recent_payments = (await payments.list_payments(session, principal, limit=ROWS, offset=0)).items
    page: dict[str, Any] = {
        "viewer": viewer,
        "view": state,
        "usage": await billing.usage(
            session, principal, counters=request.app.state.context.usage_counters
        ),
        "plans": list(PLANS.values()),
        "invoices": (await billing.list_invoices(session, principal, limit=ROWS, offset=0)).items,
        "payments": recent_payments,
        # Open invoices with an attempt under way: their button continues it.
        "paying": {
            payment.invoice_id
            for payment in recent_payments
            if payment.status in checkout.IN_PROGRESS
        },
        "licences": (
            await licences.list_my_licences(session, principal, limit=ROWS, offset=0)
        ).items,
        "is_operator": manual_payments.is_operator(principal, settings),
    }
    headers = policy_with_form_targets(*gateway_for(settings).checkout_origins)
    return render(request, "billing.html", page, status_code=state.status_code, headers=headers)


@router.get("/billing")
async def billing_page(
    request: Request, session: DbSession, viewer: CurrentViewer, done: str | None = None
) -> Response:
    if refusal := _refusal(request, viewer):
        return refusal
    return await _render(request, session, viewer, PageState(notice=NOTICES.get(done or "")))


@router.post("/billing/plan", dependencies=csrf_checked)
async def change_plan(request: Request, session: DbSession, viewer: CurrentViewer) -> Response:
    if refusal := _refusal(request, viewer):
        return refusal
    values = await read_fields(request, ("plan",))

    async def change() -> None:
        plan = _parse_plan(values)
        await billing.choose_plan(session, viewer.principal, plan_id=plan)

    try:
        await form_action(session, viewer, values, change)
    except FormInvalid as invalid:
        return await _render(request, session, viewer, PageState.failed("plan", invalid.state))
    return redirect("/billing?done=plan")


def _parse_plan(values: dict[str, str]) -> PlanId:
    try:
        return PlanId(values["plan"])
    except ValueError:
        errors = {"plan": "Choose one of the plans"}
        raise FormInvalid(FormState(values=echo(values), errors=errors, status_code=422)) from None


@router.post("/billing/licences", dependencies=csrf_checked)
async def redeem_licence(request: Request, session: DbSession, viewer: CurrentViewer) -> Response:
    if refusal := _refusal(request, viewer):
        return refusal
    values = await read_fields(request, ("licence_key",))

    async def redeem() -> None:
        await licences.redeem(session, viewer.principal, key=values["licence_key"][:100])

    try:
        await form_action(session, viewer, values, redeem)
    except FormInvalid as invalid:
        state = PageState.failed("licence", invalid.state)
        return await _render(request, session, viewer, state)
    return redirect("/billing?done=licence")


@router.post("/billing/invoices/{invoice_id}/pay", dependencies=csrf_checked)
async def pay_invoice(
    request: Request, invoice_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    if refusal := _refusal(request, viewer):
        return refusal
    settings = request.app.state.context.settings

    async def pay() -> checkout.InvoiceCheckout:
        wanted = parse_id(invoice_id, "Invoice")
        return await checkout.pay_invoice(
            session,
            viewer.principal,
            wanted,
            gateway=gateway_for(settings),
            public_url=settings.public_url,
        )

    try:
        outcome = await form_action(session, viewer, {}, pay)
    except FormInvalid as invalid:
        return await _render(request, session, viewer, PageState.alerting(invalid.state))
    if outcome.redirect_url:
        return redirect(outcome.redirect_url)  # to the gateway's page (Stripe Checkout)
    return redirect(f"/billing?done={_pay_notice(outcome.payment, created=outcome.created)}")


def _pay_notice(payment: Payment, *, created: bool) -> str:
    if payment.status in checkout.IN_PROGRESS:
        return "pay_pending" if created else "pay_waiting"
    return RETURN_NOTICES[payment.status]


@router.get("/billing/payments/{payment_id}/return")
async def payment_return(
    request: Request, payment_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    """Back from the gateway's page, paid or not: ask it how the payment ended."""
    if refusal := _refusal(request, viewer):
        return refusal
    settings = request.app.state.context.settings

    async def refresh() -> Payment:
        wanted = parse_id(payment_id, "Payment")
        return await checkout.refresh_payment(
            session, viewer.principal, wanted, gateway=gateway_for(settings)
        )

    try:
        payment = await form_action(session, viewer, {}, refresh)
    except FormInvalid as invalid:
        return await _render(request, session, viewer, PageState.alerting(invalid.state))
    if payment.gateway == "manual" and payment.status in checkout.IN_PROGRESS:
        return redirect("/billing?done=pay_waiting")
    return redirect(f"/billing?done={RETURN_NOTICES[payment.status]}")


# --- the operators' desk: every workspace's pending manual payments -------------------------


def _desk_operator(request: Request, viewer: Viewer) -> PaymentOperator | Response:
    """The viewer as a payment operator, or the 403 page everyone else gets."""
    try:
        return manual_payments.operator_for(viewer.principal, request.app.state.context.settings)
    except FlowError:
        message = "Pending manual payments are for the operators of this instance."
        return _not_allowed(request, viewer, message)


async def _render_desk(
    request: Request,
    session: AsyncSession,
    viewer: Viewer,
    operator: PaymentOperator,
    state: PageState,
) -> Response:
    pending = await manual_payments.list_pending(session, operator, limit=DESK_ROWS, offset=0)
    page = {"viewer": viewer, "view": state, "pending": pending.items, "total": pending.total}
    return render(request, "operator_payments.html", page, status_code=state.status_code)


@router.get("/operator/payments")
async def desk_page(
    request: Request, session: DbSession, viewer: CurrentViewer, done: str | None = None
) -> Response:
    operator = _desk_operator(request, viewer)
    if isinstance(operator, Response):
        return operator
    state = PageState(notice=DESK_NOTICES.get(done or ""))
    return await _render_desk(request, session, viewer, operator, state)


@router.post("/operator/payments/{payment_id}/confirm", dependencies=csrf_checked)
async def confirm_payment(
    request: Request, payment_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    operator = _desk_operator(request, viewer)
    if isinstance(operator, Response):
        return operator

    async def confirm() -> manual_payments.Decision:
        wanted = parse_id(payment_id, "Payment")
        return await manual_payments.confirm(session, operator, wanted)

    try:
        decision = await form_action(session, viewer, {}, confirm)
    except FormInvalid as invalid:
        state = PageState.alerting(invalid.state)
        return await _render_desk(request, session, viewer, operator, state)
    return redirect(f"/operator/payments?done={'confirmed' if decision.changed else 'unchanged'}")


@router.post("/operator/payments/{payment_id}/fail", dependencies=csrf_checked)
async def fail_payment(
    request: Request, payment_id: str, session: DbSession, viewer: CurrentViewer
) -> Response:
    operator = _desk_operator(request, viewer)
    if isinstance(operator, Response):
        return operator
    values = await read_fields(request, ("reason",))

    async def fail() -> manual_payments.Decision:
        wanted = parse_id(payment_id, "Payment")
        return await manual_payments.mark_failed(session, operator, wanted, reason=values["reason"])

    try:
        decision = await form_action(session, viewer, values, fail)
    except FormInvalid as invalid:
        # The reason's error belongs to that payment's row; anything else to the banner.
        state = PageState.failed(f"fail-{payment_id}", invalid.state)
        return await _render_desk(request, session, viewer, operator, state)
    return redirect(f"/operator/payments?done={'failed' if decision.changed else 'unchanged'}")
