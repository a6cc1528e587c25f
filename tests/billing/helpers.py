"""Signing webhook deliveries the way each payment platform does, and common payloads."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx

from intuitivus_flow.billing.licences.service import new_licence_key
from intuitivus_flow.billing.licences.webhooks import kiwify_signature, stripe_signature
from intuitivus_flow.billing.models import Licence
from intuitivus_flow.billing.repository import LicenceRepository
from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.kit.security import digest
from tests.helpers import Account, me, register

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


# --- subscriptions, manual payments and operators -----------------------------------------


async def workspace_of(client: httpx.AsyncClient, account: Account) -> uuid.UUID:
    return uuid.UUID((await me(client, account.headers))["workspace"]["id"])


async def make_operator(client: httpx.AsyncClient, app: Any) -> Account:
    """An owner of a workspace listed in FLOW_OPERATOR_WORKSPACES."""
    account = await register(client, workspace="Operators Inc")
    app.state.context.settings.operator_workspaces.append(await workspace_of(client, account))
    return account


async def subscribe(
    client: httpx.AsyncClient, account: Account, plan: str = "pro"
) -> dict[str, Any]:
    """Choose a plan; the subscription's newest open invoice."""
    chosen = await client.put(
        "/api/billing/subscription", json={"plan": plan}, headers=account.headers
    )
    assert chosen.status_code == 200, chosen.text
    invoices = (await client.get("/api/billing/invoices", headers=account.headers)).json()
    invoice: dict[str, Any] = next(i for i in invoices["items"] if i["status"] == "open")
    return invoice


async def pay_manually(
    client: httpx.AsyncClient, account: Account, body: dict[str, Any]
) -> dict[str, Any]:
    """A payment through the manual gateway: pending until an operator acts."""
    created = await client.post("/api/billing/payments", json=body, headers=account.headers)
    assert created.status_code == 201, created.text
    payment: dict[str, Any] = created.json()
    assert (payment["status"], payment["gateway"]) == ("pending", "manual")
    return payment


async def pending_invoice_payment(
    client: httpx.AsyncClient, account: Account, plan: str = "pro"
) -> tuple[dict[str, Any], dict[str, Any]]:
    invoice = await subscribe(client, account, plan)
    return invoice, await pay_manually(client, account, {"invoice_id": invoice["id"]})


async def subscription_of(client: httpx.AsyncClient, account: Account) -> dict[str, Any]:
    found = await client.get("/api/billing/subscription", headers=account.headers)
    assert found.status_code == 200, found.text
    body: dict[str, Any] = found.json()
    return body


async def event_names(client: httpx.AsyncClient, account: Account) -> list[str]:
    listed = await client.get("/api/events?limit=100", headers=account.headers)
    return [event["name"] for event in listed.json()["items"]]


async def make_licence(app: Any, *, plan: str = "pro", status: str = "available") -> str:
    """A licence as a purchase webhook would issue it; the key as its e-mail would carry it."""
    key = new_licence_key()
    async with unit_of_work(app.state.context.sessions) as session:
        await LicenceRepository(session).add(
            Licence(
                key_hash=digest(key),
                key_hint=key[-4:],
                platform="hotmart",
                external_ref=f"HP-{uuid.uuid4().hex[:12]}",
                plan=plan,
                status=status,
            )
        )
    return key
