from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, status
from fastapi.responses import JSONResponse

from intuitivus_flow.billing import schemas
from intuitivus_flow.billing import service as billing
from intuitivus_flow.billing.exceptions import (
    IdempotentRequestInProgress,
    InvalidSignature,
    PaymentGatewayUnavailable,
)
from intuitivus_flow.billing.licences import service as licences
from intuitivus_flow.billing.licences.webhooks import parse_platform, secrets_from
from intuitivus_flow.billing.models import Invoice, Licence, Payment, Subscription
from intuitivus_flow.billing.payments import checkout
from intuitivus_flow.billing.payments import manual as manual_payments
from intuitivus_flow.billing.payments import service as payments
from intuitivus_flow.billing.payments.gateways import gateway_for
from intuitivus_flow.billing.payments.manual import Decision, DeskPayment, PaymentOperator
from intuitivus_flow.billing.plans import PLANS, Limit
from intuitivus_flow.identity.http import CurrentPrincipal
from intuitivus_flow.identity.requirements import requires
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import Conflict, InvalidInput, NotFound
from intuitivus_flow.kit.http.deps import Context, DbSession, Paging
from intuitivus_flow.kit.http.openapi import route_errors
from intuitivus_flow.kit.pagination import Page


async def _usage_counters(request: Request) -> Mapping[Limit, billing.Counter]:
    # Wired by the app (intuitivus_flow/context.py): the domains that own agents and members.
    counters: Mapping[Limit, billing.Counter] = request.app.state.context.usage_counters
    return counters


UsageCounters = Annotated[Mapping[Limit, billing.Counter], Depends(_usage_counters)]

router = APIRouter(prefix="/api/billing", tags=["billing"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Retries with the same key create one payment and get the same answer.",
    ),
]


@router.get("/plans", response_model=list[schemas.PlanRead], summary="Plans on sale")
async def list_plans() -> list[schemas.PlanRead]:
    """Every plan with its monthly price (minor units) and limits. Public."""
    return [schemas.PlanRead.model_validate(plan) for plan in PLANS.values()]


@router.get(
    "/usage",
    dependencies=[requires(Scope.billing_read)],
    response_model=schemas.UsageRead,
    summary="Plan, usage and limits",
)
async def get_usage(
    session: DbSession, principal: CurrentPrincipal, counters: UsageCounters
) -> schemas.UsageRead:
    """The workspace's plan, its subscription, and each limit with how much of it is used."""
    usage = await billing.usage(session, principal, counters=counters)
    return schemas.UsageRead(
        plan=schemas.PlanRead.model_validate(usage.plan),
        subscription=(
            schemas.SubscriptionRead.model_validate(usage.subscription)
            if usage.subscription
            else None
        ),
        period=usage.period,
        limits=[
            schemas.LimitUsageRead(limit=item.limit, used=item.used, allowed=item.allowed)
            for item in usage.limits
        ],
    )


@router.get(
    "/subscription",
    openapi_extra=route_errors(NotFound),
    dependencies=[requires(Scope.billing_read)],
    response_model=schemas.SubscriptionRead,
    summary="Current subscription",
)
async def get_subscription(session: DbSession, principal: CurrentPrincipal) -> Subscription:
    """404 while the workspace has never subscribed (it is then on the free plan)."""
    return await billing.get_subscription(session, principal)


@router.put(
    "/subscription",
    openapi_extra=route_errors(Conflict, PaymentGatewayUnavailable),
    dependencies=[requires(Scope.billing_write)],
    response_model=schemas.SubscriptionRead,
    summary="Choose a plan",
)
async def choose_plan(
    body: schemas.PlanChoice, session: DbSession, principal: CurrentPrincipal
) -> Subscription:
    """Owners and admins. A paid plan starts its trial (first time) and opens an invoice;
    `free` cancels the paid subscription."""
    return await billing.choose_plan(session, principal, plan_id=body.plan)


@router.post(
    "/subscription/cancel",
    openapi_extra=route_errors(NotFound, Conflict),
    dependencies=[requires(Scope.billing_write)],
    response_model=schemas.SubscriptionRead,
    summary="Cancel the subscription",
)
async def cancel_subscription(session: DbSession, principal: CurrentPrincipal) -> Subscription:
    """Owners and admins. The workspace falls back to the free plan's limits at once."""
    return await billing.cancel(session, principal)


@router.get(
    "/invoices",
    dependencies=[requires(Scope.billing_read)],
    response_model=schemas.InvoicePage,
    summary="List invoices",
)
async def list_invoices(
    session: DbSession, principal: CurrentPrincipal, paging: Paging
) -> Page[Invoice]:
    """Newest first."""
    return await billing.list_invoices(session, principal, limit=paging.limit, offset=paging.offset)


@router.get(
    "/invoices/{invoice_id}",
    dependencies=[requires(Scope.billing_read)],
    response_model=schemas.InvoiceRead,
    summary="One invoice",
)
async def get_invoice(
    invoice_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> Invoice:
    """An invoice of this workspace."""
    return await billing.get_invoice(session, principal, invoice_id)


@router.post(
    "/invoices/{invoice_id}/pay",
    openapi_extra=route_errors(NotFound, Conflict, InvalidInput, PaymentGatewayUnavailable),
    dependencies=[requires(Scope.billing_write)],
    response_model=schemas.InvoiceCheckoutRead,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {
            "model": schemas.InvoiceCheckoutRead,
            "description": "The attempt already in progress for this invoice.",
        }
    },
    summary="Pay an open invoice",
)
async def pay_invoice(
    invoice_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal, context: Context
) -> JSONResponse:
    """Owners and admins. Starts a Stripe Checkout for the invoice (send the payer to
    `checkout_url`), or, without Stripe, records a pending payment for the operators' desk.
    One attempt at a time: while one is in progress, asking again answers 200 with it (and the
    same Checkout page) instead of starting another; a paid or void invoice is a 409."""
    outcome = await checkout.pay_invoice(
        session,
        principal,
        invoice_id,
        gateway=gateway_for(context.settings),
        public_url=context.settings.public_url,
    )
    body = schemas.InvoiceCheckoutRead(
        payment=schemas.PaymentRead.model_validate(outcome.payment),
        checkout_url=outcome.redirect_url,
        created=outcome.created,
    )
    code = status.HTTP_201_CREATED if outcome.created else status.HTTP_200_OK
    return JSONResponse(body.model_dump(mode="json"), status_code=code)


@router.post(
    "/payments/{payment_id}/refresh",
    openapi_extra=route_errors(NotFound, PaymentGatewayUnavailable),
    dependencies=[requires(Scope.billing_write)],
    response_model=schemas.PaymentRead,
    summary="Refresh a payment from its gateway",
)
async def refresh_payment(
    payment_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal, context: Context
) -> Payment:
    """Owners and admins. Asks the gateway how a checkout in progress ended (paid, expired or
    still open) and updates the payment and its invoice; other payments come back unchanged."""
    return await checkout.refresh_payment(
        session, principal, payment_id, gateway=gateway_for(context.settings)
    )


@router.post(
    "/payments",
    openapi_extra=route_errors(Conflict, IdempotentRequestInProgress, PaymentGatewayUnavailable),
    dependencies=[requires(Scope.billing_write)],
    response_model=schemas.PaymentRead,
    status_code=status.HTTP_201_CREATED,
    summary="Make a payment",
)
async def create_payment(
    body: schemas.PaymentCreate,
    session: DbSession,
    principal: CurrentPrincipal,
    context: Context,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Owners and admins. Pays an open invoice, or an amount, through the configured gateway
    (Stripe, or the manual gateway that leaves it pending for an operator). Send an
    `Idempotency-Key`: every retry with it gets the first answer (`Idempotent-Replayed: true`)
    and no second payment; the same key with another body is a 422."""
    outcome = await payments.create_payment(
        session,
        principal,
        data=body,
        idempotency_key=idempotency_key,
        gateway=gateway_for(context.settings),
    )
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    return JSONResponse(outcome.body, status_code=outcome.status_code, headers=headers)


@router.get(
    "/payments",
    dependencies=[requires(Scope.billing_read)],
    response_model=schemas.PaymentPage,
    summary="Payments ledger",
)
async def list_payments(
    session: DbSession, principal: CurrentPrincipal, paging: Paging
) -> Page[Payment]:
    """Every payment of the workspace, newest first, amounts in minor units."""
    return await payments.list_payments(
        session, principal, limit=paging.limit, offset=paging.offset
    )


@router.get(
    "/payments/{payment_id}",
    dependencies=[requires(Scope.billing_read)],
    response_model=schemas.PaymentRead,
    summary="One payment",
)
async def get_payment(
    payment_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> Payment:
    """A payment of this workspace."""
    return await payments.get_payment(session, principal, payment_id)


@router.get(
    "/licences",
    dependencies=[requires(Scope.billing_read)],
    response_model=schemas.LicencePage,
    summary="My licences",
)
async def list_licences(
    session: DbSession, principal: CurrentPrincipal, paging: Paging
) -> Page[Licence]:
    """Licences this workspace redeemed (keys are never shown again, only their last
    characters)."""
    return await licences.list_my_licences(
        session, principal, limit=paging.limit, offset=paging.offset
    )


@router.post(
    "/licences/redeem",
    openapi_extra=route_errors(Conflict),
    dependencies=[requires(Scope.billing_write)],
    response_model=schemas.LicenceRead,
    status_code=status.HTTP_201_CREATED,
    summary="Redeem a licence key",
)
async def redeem_licence(
    body: schemas.LicenceRedeem, session: DbSession, principal: CurrentPrincipal
) -> Licence:
    """Owners and admins. The licence's plan becomes the workspace's active plan."""
    return await licences.redeem(session, principal, key=body.licence_key)


@router.post(
    "/webhooks/{platform}",
    openapi_extra=route_errors(InvalidSignature),
    response_model=schemas.WebhookAck,
    summary="Payment-platform webhook",
)
async def receive_webhook(
    platform: str, request: Request, session: DbSession, context: Context
) -> schemas.WebhookAck:
    """For Stripe, Hotmart and Kiwify. Signature-verified (401 and nothing written otherwise);
    a purchase issues a licence, a refund or chargeback revokes it; a redelivered event
    answers 200 and changes nothing."""
    outcome = await licences.receive_webhook(
        session,
        platform=parse_platform(platform),
        body=await request.body(),
        headers=request.headers,
        query=request.query_params,
        secrets_=secrets_from(context.settings),
        box=context.secrets,
    )
    return schemas.WebhookAck(status=outcome.status, event_id=outcome.event_id)


# --- the operators' desk: the one cross-tenant part of billing (billing/payments/manual.py) ---


async def _payment_operator(principal: CurrentPrincipal, context: Context) -> PaymentOperator:
    return manual_payments.operator_for(principal, context.settings)


Operator = Annotated[PaymentOperator, Depends(_payment_operator)]


def _desk_read(item: DeskPayment) -> schemas.DeskPaymentRead:
    return schemas.DeskPaymentRead(
        **schemas.PaymentRead.model_validate(item.payment).model_dump(),
        workspace_id=item.payment.workspace_id,
        workspace_name=item.workspace_name,
    )


def _decision_read(decision: Decision) -> schemas.PaymentDecisionRead:
    desk = _desk_read(DeskPayment(decision.payment, decision.workspace_name))
    return schemas.PaymentDecisionRead(**desk.model_dump(), changed=decision.changed)


@router.get(
    "/operator/payments/pending",
    dependencies=[requires(Scope.billing_write)],
    response_model=schemas.DeskPaymentPage,
    summary="Pending manual payments (operators)",
)
async def list_pending_manual_payments(
    session: DbSession, operator: Operator, paging: Paging
) -> schemas.DeskPaymentPage:
    """Operators of the instance only (owners/admins of `FLOW_OPERATOR_WORKSPACES`): the
    manual gateway's pending payments of **every** workspace, oldest first."""
    page = await manual_payments.list_pending(
        session, operator, limit=paging.limit, offset=paging.offset
    )
    return schemas.DeskPaymentPage(
        items=[_desk_read(item) for item in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(
    "/operator/payments/{payment_id}/confirm",
    openapi_extra=route_errors(Conflict),
    dependencies=[requires(Scope.billing_write)],
    response_model=schemas.PaymentDecisionRead,
    summary="Confirm a manual payment (operators)",
)
async def confirm_manual_payment(
    payment_id: uuid.UUID, session: DbSession, operator: Operator
) -> schemas.PaymentDecisionRead:
    """The money arrived: the payment succeeds, its open invoice is paid and the subscription
    becomes active, as after a successful Stripe charge. Any workspace's payment. Confirming
    again answers `changed: false`; a failed payment cannot be confirmed (409)."""
    return _decision_read(await manual_payments.confirm(session, operator, payment_id))


@router.post(
    "/operator/payments/{payment_id}/fail",
    openapi_extra=route_errors(Conflict),
    dependencies=[requires(Scope.billing_write)],
    response_model=schemas.PaymentDecisionRead,
    summary="Mark a manual payment failed (operators)",
)
async def fail_manual_payment(
    payment_id: uuid.UUID, body: schemas.PaymentFailure, session: DbSession, operator: Operator
) -> schemas.PaymentDecisionRead:
    """The money will not come: the payment fails with the reason, and a live subscription
    whose invoice it was for becomes past_due, as after a declined card. Failing again answers
    `changed: false`; a confirmed payment cannot be failed (409)."""
    decision = await manual_payments.mark_failed(session, operator, payment_id, reason=body.reason)
    return _decision_read(decision)
