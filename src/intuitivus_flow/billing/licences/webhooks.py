"""Payment-platform webhooks: signature checks and payload reading, with no database.

What each platform sends (checked against their public documentation; see docs/billing.md):

- Stripe: `Stripe-Signature: t=<unix time>,v1=<hex>` where v1 is HMAC-SHA256 of
  "<t>.<raw body>" with the endpoint's signing secret; events `checkout.session.completed`
  and `payment_intent.succeeded` (purchase), `charge.refunded` (refund),
  `charge.dispute.created` (chargeback). The order is the PaymentIntent id.
- Hotmart (webhook 2.0.0): header `X-HOTMART-HOTTOK` equal to the account's hottok; body
  `{"id", "event", "data": {"buyer": {"email"}, "product": {"name"}, "purchase":
  {"transaction"}}}` with events PURCHASE_APPROVED / PURCHASE_COMPLETE (purchase),
  PURCHASE_REFUNDED (refund), PURCHASE_CHARGEBACK (chargeback).
- Kiwify: query parameter `signature` = HMAC-SHA1 hex of the raw body with the webhook token;
  body `{"order_id", "order_status", "webhook_event_type", "Customer": {"email"},
  "Product": {"product_name"}}`. Kiwify sends no event id, so the id is
  "<order_id>:<event type>": each change of an order is processed once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import SecretStr

from intuitivus_flow.billing.exceptions import InvalidSignature
from intuitivus_flow.billing.plans import PlanId, plan_named_in
from intuitivus_flow.config import Settings
from intuitivus_flow.kit.errors import InvalidInput, NotFound

MAX_FIELD = 200


class Platform(StrEnum):
    stripe = "stripe"
    hotmart = "hotmart"
    kiwify = "kiwify"


class EventKind(StrEnum):
    purchase = "purchase"
    refund = "refund"
    chargeback = "chargeback"
    other = "other"


@dataclass(frozen=True, slots=True)
class PlatformEvent:
    platform: Platform
    event_id: str
    event_type: str
    kind: EventKind
    order_ref: str | None
    buyer_email: str | None
    plan: PlanId | None


@dataclass(frozen=True, slots=True)
class WebhookSecrets:
    stripe: str | None
    hotmart: str | None
    kiwify: str | None
    stripe_tolerance_seconds: int = 300


def parse_platform(name: str) -> Platform:
    try:
        return Platform(name)
    except ValueError:
        raise NotFound("Unknown payment platform") from None


# --- signatures ---------------------------------------------------------------------------


def verify(
    platform: Platform,
    *,
    body: bytes,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    secrets: WebhookSecrets,
    now: float | None = None,
) -> None:
    """Raise `InvalidSignature` unless the request provably comes from the platform."""
    if platform is Platform.stripe:
        _verify_stripe(body, headers.get("stripe-signature"), secrets, now or time.time())
    elif platform is Platform.hotmart:
        _verify_hotmart(headers.get("x-hotmart-hottok"), secrets.hotmart)
    else:
        _verify_kiwify(body, query.get("signature"), secrets.kiwify)


def _require_secret(secret: str | None) -> str:
    if not secret:
        # Unconfigured means nothing can be verified, so nothing is accepted.
        raise InvalidSignature("Webhooks from this platform are not configured")
    return secret


def _verify_stripe(body: bytes, header: str | None, secrets: WebhookSecrets, now: float) -> None:
    secret = _require_secret(secrets.stripe)
    if not header:
        raise InvalidSignature("Missing Stripe-Signature header")
    timestamp, signatures = _stripe_header(header)
    if timestamp is None or not signatures:
        raise InvalidSignature("Malformed Stripe-Signature header")
    # A captured delivery replayed later is refused, whatever its signature.
    if abs(now - timestamp) > secrets.stripe_tolerance_seconds:
        raise InvalidSignature("The Stripe-Signature timestamp is outside the tolerance")
    expected = stripe_signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise InvalidSignature("The Stripe signature does not match")


def _stripe_header(header: str) -> tuple[int | None, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit() and len(value) < 12:
            timestamp = int(value)
        elif name == "v1" and value:
            signatures.append(value)
    return timestamp, signatures


def stripe_signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _verify_hotmart(token: str | None, configured: str | None) -> None:
    secret = _require_secret(configured)
    if not token or not hmac.compare_digest(token.encode(), secret.encode()):
        raise InvalidSignature("The X-HOTMART-HOTTOK header does not match")


def kiwify_signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def _verify_kiwify(body: bytes, signature: str | None, configured: str | None) -> None:
    secret = _require_secret(configured)
    if not signature or not hmac.compare_digest(
        kiwify_signature(secret, body), signature.strip().lower()
    ):
        raise InvalidSignature("The Kiwify signature does not match")


# --- payloads ------------------------------------------------------------------------------


def read_event(platform: Platform, body: bytes) -> PlatformEvent:
    """The verified body as a platform-neutral event; 422 when it is not what they send."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidInput("The webhook body is not JSON") from None
    if not isinstance(document, dict):
        raise InvalidInput("The webhook body must be a JSON object")
    return _READERS[platform](document)


def _text(value: Any) -> str | None:
    if isinstance(value, str | int) and not isinstance(value, bool):
        text = str(value).strip()
        return text[:MAX_FIELD] if text else None
    return None


def _dig(document: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(document, dict):
            return None
        document = document.get(name)
    return document


def _required(value: str | None, what: str) -> str:
    if value is None:
        raise InvalidInput(f"The webhook body has no {what}")
    return value


STRIPE_KINDS = {
    "checkout.session.completed": EventKind.purchase,
    "payment_intent.succeeded": EventKind.purchase,
    "charge.refunded": EventKind.refund,
    "charge.dispute.created": EventKind.chargeback,
}


def _read_stripe(document: dict[str, Any]) -> PlatformEvent:
    event_type = _required(_text(document.get("type")), "event type")
    obj = _dig(document, "data", "object")
    kind = STRIPE_KINDS.get(event_type, EventKind.other)
    if _text(_dig(obj, "metadata", "payment_id")):
        # Money for our own ledger (an invoice paid through Checkout, a charge of
        # `POST /api/billing/payments`), not a licence bought on the platform.
        kind = EventKind.other
    # Checkout sessions and charges point at their PaymentIntent; a PaymentIntent is one.
    order = _text(_dig(obj, "payment_intent"))
    if event_type == "payment_intent.succeeded":
        order = _text(_dig(obj, "id"))
    email = _text(_dig(obj, "customer_details", "email")) or _text(_dig(obj, "receipt_email"))
    return PlatformEvent(
        platform=Platform.stripe,
        event_id=_required(_text(document.get("id")), "event id"),
        event_type=event_type,
        kind=kind,
        order_ref=order,
        buyer_email=email,
        plan=plan_named_in(_text(_dig(obj, "metadata", "plan"))),
    )


HOTMART_KINDS = {
    "PURCHASE_APPROVED": EventKind.purchase,
    "PURCHASE_COMPLETE": EventKind.purchase,
    "PURCHASE_REFUNDED": EventKind.refund,
    "PURCHASE_CHARGEBACK": EventKind.chargeback,
}


def _read_hotmart(document: dict[str, Any]) -> PlatformEvent:
    event_type = _required(_text(document.get("event")), "event")
    data = document.get("data")
    plan_text = _text(_dig(data, "subscription", "plan", "name")) or _text(
        _dig(data, "product", "name")
    )
    return PlatformEvent(
        platform=Platform.hotmart,
        event_id=_required(_text(document.get("id")), "event id"),
        event_type=event_type,
        kind=HOTMART_KINDS.get(event_type, EventKind.other),
        order_ref=_text(_dig(data, "purchase", "transaction")),
        buyer_email=_text(_dig(data, "buyer", "email")),
        plan=plan_named_in(plan_text),
    )


KIWIFY_KINDS = {
    "order_approved": EventKind.purchase,
    "order_refunded": EventKind.refund,
    "chargeback": EventKind.chargeback,
}


def _read_kiwify(document: dict[str, Any]) -> PlatformEvent:
    order = _required(_text(document.get("order_id")), "order_id")
    event_type = _text(document.get("webhook_event_type")) or _text(document.get("order_status"))
    event_type = _required(event_type, "webhook_event_type")
    kind = KIWIFY_KINDS.get(event_type, EventKind.other)
    status = _text(document.get("order_status"))
    if kind is EventKind.other and status in {"paid", "refunded", "chargedback"}:
        kind = {"paid": EventKind.purchase, "refunded": EventKind.refund}.get(
            status, EventKind.chargeback
        )
    plan_text = _text(_dig(document, "Subscription", "plan", "name")) or _text(
        _dig(document, "Product", "product_name")
    )
    return PlatformEvent(
        platform=Platform.kiwify,
        event_id=f"{order}:{event_type}",
        event_type=event_type,
        kind=kind,
        order_ref=order,
        buyer_email=_text(_dig(document, "Customer", "email")),
        plan=plan_named_in(plan_text),
    )


_READERS: dict[Platform, Callable[[dict[str, Any]], PlatformEvent]] = {
    Platform.stripe: _read_stripe,
    Platform.hotmart: _read_hotmart,
    Platform.kiwify: _read_kiwify,
}


def secrets_from(settings: Settings) -> WebhookSecrets:
    def value(secret: SecretStr | None) -> str | None:
        return secret.get_secret_value() if secret is not None else None

    return WebhookSecrets(
        stripe=value(settings.stripe_webhook_secret),
        hotmart=value(settings.hotmart_hottok),
        kiwify=value(settings.kiwify_secret),
        stripe_tolerance_seconds=settings.stripe_webhook_tolerance_seconds,
    )
