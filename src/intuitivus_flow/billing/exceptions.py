"""Billing errors, each with its HTTP status and problem type."""

from __future__ import annotations

from intuitivus_flow.billing.plans import Limit, Plan
from intuitivus_flow.kit.errors import Conflict, FlowError, InvalidInput, Unauthorized


class PlanLimitReached(FlowError):
    """The workspace's plan allows no more of something; upgrading lifts the limit."""

    status_code = 402
    type = "plan-limit"
    title = "Plan limit reached"

    def __init__(self, plan: Plan, limit: Limit, *, allowed: int, used: int) -> None:
        label = limit.value.replace("_", " ")
        super().__init__(
            f"The {plan.name} plan allows {allowed} {label}; this workspace has {used}. "
            "Upgrade the plan to add more.",
            limit=limit.value,
            plan=plan.id.value,
            allowed=allowed,
            used=used,
        )


class InvalidSignature(Unauthorized):
    type = "invalid-signature"
    title = "Invalid webhook signature"

    @property
    def headers(self) -> dict[str, str]:
        return {}


class IdempotencyKeyReused(InvalidInput):
    type = "idempotency-key-reused"
    title = "Idempotency key reused"


class IdempotentRequestInProgress(Conflict):
    type = "idempotent-request-in-progress"
    title = "Request in progress"

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


class PaymentGatewayUnavailable(FlowError):
    """The payment provider could not be reached or refused our credentials; retry later."""

    status_code = 502
    type = "payment-gateway-unavailable"
    title = "Payment gateway unavailable"


class InvalidLicence(InvalidInput):
    type = "invalid-licence"
    title = "Invalid licence key"
