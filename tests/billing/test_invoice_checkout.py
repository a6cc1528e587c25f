"""Paying an open invoice (issue 17): Stripe Checkout against a local server speaking Stripe's
wire format, the operators' desk without Stripe; one attempt at a time, on both engines."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from intuitivus_flow.billing.models import Payment
from tests.billing.conftest import licence_for
from tests.billing.helpers import (
    WEBHOOK_SETTINGS,
    make_operator,
    send_stripe,
    stripe_event,
    subscribe,
    subscription_of,
)
from tests.billing.stripe_server import API_KEY, RunningStripe, serve_stripe
from tests.helpers import Account, assert_problem, invite_and_join, register

PUBLIC_URL = "https://flow.example.com"


async def pay(client: httpx.AsyncClient, account: Account, invoice_id: str) -> httpx.Response:
    return await client.post(f"/api/billing/invoices/{invoice_id}/pay", headers=account.headers)


async def invoice_status(client: httpx.AsyncClient, account: Account, invoice_id: str) -> str:
    found = await client.get(f"/api/billing/invoices/{invoice_id}", headers=account.headers)
    assert found.status_code == 200, found.text
    return str(found.json()["status"])


async def payments_of(app: Any, invoice_id: str) -> int:
    async with app.state.context.sessions() as session:
        count = await session.scalar(
            select(func.count()).where(Payment.invoice_id == uuid.UUID(invoice_id))
        )
        return int(count or 0)


class TestOperatorDesk:
    """No Stripe key: the payment waits on the operators' desk."""

    async def test_pay_records_one_pending_payment_until_an_operator_confirms(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        invoice = await subscribe(client, owner)
        first = await pay(client, owner, invoice["id"])
        assert first.status_code == 201, first.text
        body = first.json()
        assert body["created"] is True
        assert body["checkout_url"] is None
        payment = body["payment"]
        assert (payment["status"], payment["gateway"]) == ("pending", "manual")
        assert (payment["invoice_id"], payment["amount_minor"]) == (
            invoice["id"],
            invoice["amount_minor"],
        )

        again = await pay(client, owner, invoice["id"])
        assert again.status_code == 200
        assert again.json()["created"] is False
        assert again.json()["payment"]["id"] == payment["id"]
        assert await payments_of(app, invoice["id"]) == 1

        operator = await make_operator(client, app)
        confirmed = await client.post(
            f"/api/billing/operator/payments/{payment['id']}/confirm", headers=operator.headers
        )
        assert confirmed.status_code == 200, confirmed.text
        assert await invoice_status(client, owner, invoice["id"]) == "paid"
        assert (await subscription_of(client, owner))["status"] == "active"
        assert_problem(await pay(client, owner, invoice["id"]), 409)

    async def test_after_a_failed_payment_a_new_attempt_starts(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        invoice = await subscribe(client, owner)
        payment = (await pay(client, owner, invoice["id"])).json()["payment"]
        operator = await make_operator(client, app)
        failed = await client.post(
            f"/api/billing/operator/payments/{payment['id']}/fail",
            json={"reason": "The transfer never arrived"},
            headers=operator.headers,
        )
        assert failed.status_code == 200, failed.text
        retry = await pay(client, owner, invoice["id"])
        assert retry.status_code == 201
        assert retry.json()["payment"]["id"] != payment["id"]

    async def test_parallel_clicks_make_one_payment(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        invoice = await subscribe(client, owner)
        answers = await asyncio.gather(*(pay(client, owner, invoice["id"]) for _ in range(5)))
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [200, 200, 200, 200, 201], [a.text for a in answers]
        assert len({answer.json()["payment"]["id"] for answer in answers}) == 1
        assert await payments_of(app, invoice["id"]) == 1

    async def test_only_owners_and_admins_of_the_invoice_workspace(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        invoice = await subscribe(client, owner)
        member = await invite_and_join(client, owner)
        assert_problem(await pay(client, member, invoice["id"]), 403)
        admin = await invite_and_join(client, owner, role="admin")
        assert (await pay(client, admin, invoice["id"])).status_code == 201
        stranger = await register(client)
        assert_problem(await pay(client, stranger, invoice["id"]), 404)
        assert_problem(await pay(client, owner, str(uuid.uuid4())), 404)
        assert_problem(await pay(client, owner, "not-an-id"), 422)
        assert await payments_of(app, invoice["id"]) == 1


@pytest.fixture
def stripe() -> Iterator[RunningStripe]:
    yield from serve_stripe()


class TestStripeCheckout:
    @pytest.fixture
    def settings_overrides(self, stripe: RunningStripe) -> dict[str, Any]:
        return {"stripe_api_key": API_KEY, "stripe_api_base": stripe.url, "public_url": PUBLIC_URL}

    async def test_checkout_then_paid_on_stripe_pays_the_invoice(
        self, client: httpx.AsyncClient, stripe: RunningStripe
    ) -> None:
        owner = await register(client)
        invoice = await subscribe(client, owner)
        started = await pay(client, owner, invoice["id"])
        assert started.status_code == 201, started.text
        body = started.json()
        payment = body["payment"]
        [session_id] = stripe.state.sessions
        assert body["checkout_url"] == stripe.state.sessions[session_id]["url"]
        assert (payment["status"], payment["gateway"], payment["gateway_reference"]) == (
            "pending",
            "stripe",
            session_id,
        )
        [form] = stripe.state.requests
        assert form["mode"] == "payment"
        assert form["success_url"] == f"{PUBLIC_URL}/billing/payments/{payment['id']}/return"
        assert form["line_items[0][price_data][unit_amount]"] == str(invoice["amount_minor"])
        assert form["metadata[invoice_id]"] == invoice["id"]
        assert stripe.state.idempotency_keys == [f"flow-checkout-{payment['id']}"]

        # A second click goes back to the same Checkout page; Stripe is not asked for another.
        again = await pay(client, owner, invoice["id"])
        assert again.status_code == 200
        assert again.json()["checkout_url"] == body["checkout_url"]
        assert len(stripe.state.sessions) == 1

        stripe.state.pay(session_id)
        refreshed = await client.post(
            f"/api/billing/payments/{payment['id']}/refresh", headers=owner.headers
        )
        assert refreshed.status_code == 200, refreshed.text
        assert refreshed.json()["status"] == "succeeded"
        assert await invoice_status(client, owner, invoice["id"]) == "paid"
        assert (await subscription_of(client, owner))["status"] == "active"
        assert_problem(await pay(client, owner, invoice["id"]), 409)

    async def test_an_expired_checkout_fails_and_a_new_one_can_start(
        self, client: httpx.AsyncClient, stripe: RunningStripe, app: Any
    ) -> None:
        owner = await register(client)
        invoice = await subscribe(client, owner)
        first = (await pay(client, owner, invoice["id"])).json()["payment"]
        stripe.state.expire(first["gateway_reference"])
        second = await pay(client, owner, invoice["id"])
        assert second.status_code == 201, second.text
        assert second.json()["payment"]["id"] != first["id"]
        earlier = await client.get(f"/api/billing/payments/{first['id']}", headers=owner.headers)
        assert earlier.json()["status"] == "failed"
        assert "expired" in earlier.json()["failure_message"]
        assert await invoice_status(client, owner, invoice["id"]) == "open"
        assert await payments_of(app, invoice["id"]) == 2

    async def test_stripe_down_is_a_502_and_leaves_no_payment(
        self, client: httpx.AsyncClient, stripe: RunningStripe, app: Any
    ) -> None:
        owner = await register(client)
        invoice = await subscribe(client, owner)
        stripe.state.mode = "error500"
        assert_problem(await pay(client, owner, invoice["id"]), 502, "payment-gateway-unavailable")
        assert await payments_of(app, invoice["id"]) == 0
        stripe.state.mode = "ok"
        assert (await pay(client, owner, invoice["id"])).status_code == 201


class TestStripeWebhook:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return dict(WEBHOOK_SETTINGS)

    async def test_our_own_checkout_is_not_taken_for_a_licence_purchase(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        ours = stripe_event(
            "checkout.session.completed",
            "pi_invoice_payment",
            metadata={"payment_id": str(uuid.uuid4()), "invoice_id": str(uuid.uuid4())},
        )
        answer = await send_stripe(client, ours)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "ignored"
        assert await licence_for(app, "stripe", "pi_invoice_payment") is None
        # A platform purchase (no payment of ours in its metadata) still issues a licence.
        bought = await send_stripe(client, stripe_event("checkout.session.completed", "pi_shop"))
        assert bought.json()["status"] == "processed"
