"""Collecting money: a `PaymentGateway` protocol, Stripe's real HTTP API, and a manual gateway.

The manual gateway is the embedded default when no Stripe key is configured: it records the
payment as `pending` for an operator to collect outside the product, and says so.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from intuitivus_flow.billing.exceptions import PaymentGatewayUnavailable
from intuitivus_flow.billing.models import PaymentStatus
from intuitivus_flow.config import Settings
from intuitivus_flow.kit.errors import InvalidInput
from intuitivus_flow.kit.money import decimals

STRIPE_API_BASE = "https://api.stripe.com"
STRIPE_CHECKOUT_ORIGIN = "https://checkout.stripe.com"
STRIPE_TIMEOUT = httpx.Timeout(20.0, connect=5.0)

# Stripe's amounts are in its own minor units, which mostly but not always are ISO 4217's
# (docs/billing.md, "Currencies"). Zero-decimal for Stripe: ISO agrees except MGA (ISO: 2).
STRIPE_ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
     "XAF", "XOF", "XPF"}
)  # fmt: skip
# Three decimals as in ISO, but Stripe's partners need the last digit to be 0.
STRIPE_THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
# Every other currency is two-decimal for Stripe, ISK included (ISO: 0, so 5 ISK is 500).
STRIPE_DEFAULT_DECIMALS = 2


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    amount_minor: int
    currency: str
    description: str
    # Passed on to the gateway so a retry of ours can never charge twice there either.
    idempotency_key: str
    payment_method: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChargeResult:
    status: PaymentStatus
    reference: str | None
    failure_message: str | None = None


@dataclass(frozen=True, slots=True)
class CheckoutRequest:
    """Pay through the gateway's own page (Stripe Checkout): the payer goes there and back."""

    amount_minor: int
    currency: str
    description: str
    idempotency_key: str
    return_url: str  # where the payer lands afterwards, paid or not
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CheckoutResult:
    status: PaymentStatus
    reference: str | None
    # Where the payer pays; None when there is nothing to do there (the manual desk).
    redirect_url: str | None = None
    failure_message: str | None = None


class PaymentGateway(Protocol):
    name: str
    # Sites a payer is sent to by `start_checkout`; the pages' policy must let forms lead there.
    checkout_origins: tuple[str, ...]

    async def charge(self, request: ChargeRequest) -> ChargeResult: ...

    async def start_checkout(self, request: CheckoutRequest) -> CheckoutResult: ...

    async def checkout_state(self, reference: str) -> CheckoutResult | None:
        """How a checkout started earlier stands now (the gateway is the source of truth);
        None when `reference` is not one of its checkouts (a direct charge)."""
        ...


class ManualGateway:
    """No provider: the payment waits as `pending` until an operator collects it."""

    name = "manual"
    checkout_origins: tuple[str, ...] = ()

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        return ChargeResult(PaymentStatus.pending, f"manual_{uuid.uuid4().hex[:16]}")

    async def start_checkout(self, request: CheckoutRequest) -> CheckoutResult:
        return CheckoutResult(PaymentStatus.pending, f"manual_{uuid.uuid4().hex[:16]}")

    async def checkout_state(self, reference: str) -> CheckoutResult | None:
        # An operator decides on the desk; until then it is pending, and the row says so.
        return CheckoutResult(PaymentStatus.pending, reference)


# PaymentIntent statuses -> ours. `processing` and `requires_capture` are money on its way.
_STRIPE_STATUSES = {
    "succeeded": PaymentStatus.succeeded,
    "processing": PaymentStatus.pending,
    "requires_capture": PaymentStatus.pending,
    "requires_action": PaymentStatus.requires_action,
    "requires_confirmation": PaymentStatus.requires_action,
    "requires_payment_method": PaymentStatus.pending,
    "canceled": PaymentStatus.failed,
}


class StripeGateway:
    """PaymentIntents over Stripe's HTTP API (form-encoded requests, JSON answers)."""

    name = "stripe"

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = STRIPE_API_BASE,
        checkout_origin: str = STRIPE_CHECKOUT_ORIGIN,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.checkout_origins: tuple[str, ...] = (checkout_origin,)
        self._api_key = api_key
        self._base_url = base_url.rstrip("/")
        self._client = client

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        try:
            response = await self._post("/v1/payment_intents", _intent_form(request), request)
        except httpx.HTTPError as exc:
            raise PaymentGatewayUnavailable(
                f"Stripe could not be reached ({type(exc).__name__})"
            ) from None
        return _result(response)

    async def start_checkout(self, request: CheckoutRequest) -> CheckoutResult:
        try:
            response = await self._post("/v1/checkout/sessions", _checkout_form(request), request)
        except httpx.HTTPError as exc:
            raise PaymentGatewayUnavailable(
                f"Stripe could not be reached ({type(exc).__name__})"
            ) from None
        return _checkout_result(response)

    async def checkout_state(self, reference: str) -> CheckoutResult | None:
        if not reference.startswith("cs_") or not reference.isascii() or "/" in reference:
            return None  # a PaymentIntent of `charge`: followed by Stripe's webhook, not here
        try:
            response = await self._send("GET", f"/v1/checkout/sessions/{reference}", None, {})
        except httpx.HTTPError as exc:
            raise PaymentGatewayUnavailable(
                f"Stripe could not be reached ({type(exc).__name__})"
            ) from None
        return _checkout_result(response)

    async def _post(
        self, path: str, form: dict[str, str], request: ChargeRequest | CheckoutRequest
    ) -> httpx.Response:
        return await self._send("POST", path, form, {"Idempotency-Key": request.idempotency_key})

    async def _send(
        self, method: str, path: str, form: dict[str, str] | None, extra: dict[str, str]
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._api_key}", **extra}
        if self._client is not None:
            return await self._client.request(
                method, self._base_url + path, data=form, headers=headers
            )
        async with httpx.AsyncClient(timeout=STRIPE_TIMEOUT) as client:
            return await client.request(method, self._base_url + path, data=form, headers=headers)


def _stripe_decimals(currency: str) -> int:
    if currency in STRIPE_ZERO_DECIMAL:
        return 0
    if currency in STRIPE_THREE_DECIMAL:
        return 3
    return STRIPE_DEFAULT_DECIMALS


def stripe_amount(amount_minor: int, currency: str) -> int:
    """Our minor units (ISO 4217) as Stripe's `amount`, the same money to the last unit.

    An amount Stripe cannot express exactly (a fraction of an ariary, a last fils digit in
    KWD) is refused before anything is sent, rather than rounded into a different charge.
    """
    shift = _stripe_decimals(currency) - decimals(currency)
    scale: int = 10 ** abs(shift)
    if shift >= 0:
        amount = amount_minor * scale
    elif amount_minor % scale:
        raise _not_chargeable(currency)
    else:
        amount = amount_minor // scale
    if currency in STRIPE_THREE_DECIMAL and amount % 10:
        raise _not_chargeable(currency)
    return amount


def _not_chargeable(currency: str) -> InvalidInput:
    step = "1 " + currency if currency in STRIPE_ZERO_DECIMAL else "0.01 " + currency
    return InvalidInput(
        f"Stripe charges {currency} only in steps of {step}: change the amount",
        field="amount_minor",
    )


def _intent_form(request: ChargeRequest) -> dict[str, str]:
    form = {
        "amount": str(stripe_amount(request.amount_minor, request.currency)),
        "currency": request.currency.lower(),
        "description": request.description,
    }
    if request.payment_method:
        # Confirm at once with the given method; cards only, so no return_url is needed.
        form |= {
            "payment_method": request.payment_method,
            "confirm": "true",
            "payment_method_types[]": "card",
        }
    for key, value in request.metadata.items():
        form[f"metadata[{key}]"] = value
    return form


def _checkout_form(request: CheckoutRequest) -> dict[str, str]:
    form = {
        "mode": "payment",
        "success_url": request.return_url,
        "cancel_url": request.return_url,
        "line_items[0][quantity]": "1",
        "line_items[0][price_data][currency]": request.currency.lower(),
        "line_items[0][price_data][unit_amount]": str(
            stripe_amount(request.amount_minor, request.currency)
        ),
        "line_items[0][price_data][product_data][name]": request.description or "Invoice",
    }
    for key, value in request.metadata.items():
        form[f"metadata[{key}]"] = value
        form[f"payment_intent_data[metadata][{key}]"] = value
    return form


def _checkout_result(response: httpx.Response) -> CheckoutResult:
    body = _json(response)
    if response.status_code in {400, 404}:
        message = _object(body, "error").get("message") or "Stripe refused the checkout"
        raise InvalidInput(str(message)[:500])
    if response.status_code >= 300:
        raise PaymentGatewayUnavailable(f"Stripe refused the request ({response.status_code})")
    reference = str(body["id"]) if body.get("id") else None
    session_status, paid = body.get("status"), body.get("payment_status")
    if session_status == "complete" and paid in {"paid", "no_payment_required"}:
        return CheckoutResult(PaymentStatus.succeeded, reference)
    if session_status == "expired":
        return CheckoutResult(
            PaymentStatus.failed, reference, failure_message="The checkout expired unpaid"
        )
    # Open, or complete with a payment still on its way (a bank debit): not settled yet.
    url = body.get("url") if session_status == "open" else None
    return CheckoutResult(PaymentStatus.pending, reference, str(url) if url else None)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise PaymentGatewayUnavailable(f"Stripe answered {response.status_code} without JSON")
    return body


def _object(document: dict[str, Any], name: str) -> dict[str, Any]:
    value = document.get(name)
    return value if isinstance(value, dict) else {}


def _result(response: httpx.Response) -> ChargeResult:
    body = _json(response)
    error = _object(body, "error")
    if response.status_code == 402:
        # A card error: the PaymentIntent exists and failed; that is an outcome, not an outage.
        intent = _object(error, "payment_intent")
        return ChargeResult(
            PaymentStatus.failed,
            str(intent["id"]) if intent.get("id") else None,
            str(error.get("message") or "The payment was declined")[:500],
        )
    if response.status_code in {400, 404}:
        # Stripe refused what we asked for (unknown payment method, bad currency...).
        raise InvalidInput(str(error.get("message") or "Stripe refused the payment")[:500])
    if response.status_code >= 300:
        raise PaymentGatewayUnavailable(f"Stripe refused the request ({response.status_code})")
    status = _STRIPE_STATUSES.get(str(body.get("status")), PaymentStatus.pending)
    return ChargeResult(status, str(body["id"]) if body.get("id") else None)


def gateway_for(settings: Settings) -> PaymentGateway:
    """Stripe when a key is configured; otherwise the clearly labelled manual gateway."""
    if settings.stripe_api_key is not None and settings.stripe_api_key.get_secret_value():
        return StripeGateway(
            settings.stripe_api_key.get_secret_value(),
            base_url=settings.stripe_api_base,
            checkout_origin=settings.stripe_checkout_origin,
        )
    return ManualGateway()
