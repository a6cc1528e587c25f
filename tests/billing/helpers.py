"""Signing webhook deliveries the way each payment platform does, and common payloads."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx

from intuitivus_flow.billing.webhooks import kiwify_signature, stripe_signature

STRIPE_SECRET = "whsec_test_secret_value"
HOTTOK = "hotmart-test-hottok"
KIWIFY_SECRET = "kiwify-test-token"
WEBHOOK_SETTINGS = {
    "stripe_webhook_secret": STRIPE_SECRET,
    "hotmart_hottok": HOTTOK,
    "kiwify_secret": KIWIFY_SECRET,
}


def stripe_event(kind: str, order: str, *, event_id: str | None = None, **obj: Any) -> bytes:
    data: dict[str, Any] = {"payment_intent": order, **obj}
    if kind == "checkout.session.completed":
        data.setdefault("customer_details", {"email": "buyer@example.com"})
        data.setdefault("metadata", {"plan": "starter"})
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:20]}",
            "object": "event",
            "type": kind,
            "data": {"object": data},
        }
    ).encode()


def hotmart_event(event: str, transaction: str, *, event_id: str | None = None) -> bytes:
    return json.dumps(
        {
            "id": event_id or str(uuid.uuid4()),
            "creation_date": int(time.time() * 1000),
            "event": event,
            "version": "2.0.0",
            "data": {
                "product": {"id": 1, "name": "Intuitivus Flow Pro"},
                "buyer": {"email": "comprador@example.com", "name": "Comprador"},
                "purchase": {"transaction": transaction, "status": "APPROVED"},
            },
        }
    ).encode()


def kiwify_event(event_type: str, order: str, status: str = "paid") -> bytes:
    return json.dumps(
        {
            "order_id": order,
            "order_status": status,
            "webhook_event_type": event_type,
            "Customer": {"email": "cliente@example.com", "full_name": "Cliente"},
            "Product": {"product_id": "p1", "product_name": "Flow Starter"},
        }
    ).encode()


def stripe_headers(
    body: bytes, *, at: int | None = None, secret: str = STRIPE_SECRET
) -> dict[str, str]:
    timestamp = at if at is not None else int(time.time())
    signature = stripe_signature(secret, timestamp, body)
    return {"Stripe-Signature": f"t={timestamp},v1={signature}", "content-type": "application/json"}


async def send_stripe(client: httpx.AsyncClient, body: bytes, **kwargs: Any) -> httpx.Response:
    return await client.post(
        "/api/billing/webhooks/stripe", content=body, headers=stripe_headers(body, **kwargs)
    )


async def send_hotmart(
    client: httpx.AsyncClient, body: bytes, token: str | None = HOTTOK
) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["X-HOTMART-HOTTOK"] = token
    return await client.post("/api/billing/webhooks/hotmart", content=body, headers=headers)


async def send_kiwify(
    client: httpx.AsyncClient, body: bytes, signature: str | None = None
) -> httpx.Response:
    params = {
        "signature": signature if signature is not None else kiwify_signature(KIWIFY_SECRET, body)
    }
    return await client.post(
        "/api/billing/webhooks/kiwify",
        content=body,
        params=params,
        headers={"content-type": "application/json"},
    )
