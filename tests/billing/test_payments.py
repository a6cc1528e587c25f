"""Payments: the ledger, Idempotency-Key under concurrency, subscriptions following invoices,
and the Stripe gateway against a local server speaking Stripe's wire format."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from intuitivus_flow.billing.models import Payment
from tests.billing.stripe_server import API_KEY, RunningStripe, serve_stripe
from tests.conftest import Database
from tests.helpers import Account, assert_problem, invite_and_join, register

PAY = {"amount_minor": 1999, "currency": "EUR", "description": "Setup fee"}


async def payments_in_db(app: Any) -> int:
    async with app.state.context.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Payment)) or 0)


async def pay(
    client: httpx.AsyncClient, owner: Account, body: dict[str, Any], key: str | None = None
) -> httpx.Response:
    headers = {**owner.headers, **({"Idempotency-Key": key} if key else {})}
    return await client.post("/api/billing/payments", json=body, headers=headers)


class TestManualGateway:
    async def test_payment_is_pending_for_an_operator(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        created = await pay(client, owner, PAY)
        assert created.status_code == 201, created.text
        body = created.json()
        assert (body["status"], body["gateway"], body["amount_minor"], body["currency"]) == (
            "pending",
            "manual",
            1999,
            "EUR",
        )
        ledger = (await client.get("/api/billing/payments", headers=owner.headers)).json()
        assert ledger["total"] == 1
        one = await client.get(f"/api/billing/payments/{body['id']}", headers=owner.headers)
        assert one.json()["id"] == body["id"]

    @pytest.mark.parametrize(
        "body",
        [
            {"amount_minor": 0, "currency": "EUR"},
            {"amount_minor": 10, "currency": "eur"},
            {"amount_minor": 1.5, "currency": "EUR"},
            {"amount_minor": 10},
            {},
        ],
    )
    async def test_invalid_amounts(self, client: httpx.AsyncClient, body: dict[str, Any]) -> None:
        owner = await register(client)
        assert_problem(await pay(client, owner, body), 422)

    async def test_members_cannot_pay(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        member = await invite_and_join(client, owner)
        assert_problem(await pay(client, member, PAY), 403)


class TestIdempotencyKey:
    async def test_retry_replays_the_first_answer(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        first = await pay(client, owner, PAY, key="order-42")
        again = await pay(client, owner, PAY, key="order-42")
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in first.headers
        assert await payments_in_db(app) == 1
        events = (
            await client.get("/api/events?name=payment.created", headers=owner.headers)
        ).json()
        assert events["total"] == 1

    async def test_same_key_other_body_is_refused(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        await pay(client, owner, PAY, key="k1")
        other = await pay(client, owner, {**PAY, "amount_minor": 2000}, key="k1")
        assert_problem(other, 422, "idempotency-key-reused")
        assert await payments_in_db(app) == 1

    async def test_keys_belong_to_a_workspace(self, client: httpx.AsyncClient, app: Any) -> None:
        alpha, beta = await register(client), await register(client)
        a = await pay(client, alpha, PAY, key="shared")
        b = await pay(client, beta, PAY, key="shared")
        assert a.json()["id"] != b.json()["id"]
        assert await payments_in_db(app) == 2

    async def test_concurrent_retries_create_one_payment(
        self, client: httpx.AsyncClient, app: Any, database: Database
    ) -> None:
        """Ten identical requests at once: one payment, ten identical answers."""
        owner = await register(client)
        responses = await asyncio.gather(
            *(pay(client, owner, PAY, key=f"race-{database.kind}") for _ in range(10))
        )
        assert {response.status_code for response in responses} == {201}, [
            r.text for r in responses
        ]
        first = responses[0].json()
        assert all(response.json() == first for response in responses)
        replayed = [r for r in responses if r.headers.get("idempotent-replayed") == "true"]
        assert len(replayed) == 9
        assert await payments_in_db(app) == 1


class TestInvoicesAndSubscription:
    async def test_paying_the_trial_invoice_activates(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        sub = await client.put(
            "/api/billing/subscription", json={"plan": "pro"}, headers=owner.headers
        )
        assert sub.json()["status"] == "trialing"
        assert sub.json()["trial_ends_at"]
        invoices = (await client.get("/api/billing/invoices", headers=owner.headers)).json()
        invoice = invoices["items"][0]
        assert (invoice["amount_minor"], invoice["currency"], invoice["status"]) == (
            9900,
            "USD",
            "open",
        )
        # The manual gateway leaves it pending: nothing changes yet.
        pending = await pay(client, owner, {"invoice_id": invoice["id"]})
        assert pending.json()["status"] == "pending"
        wrong = await pay(
            client, owner, {"invoice_id": invoice["id"], "amount_minor": 1, "currency": "USD"}
        )
        assert_problem(wrong, 422)
        one = await client.get(f"/api/billing/invoices/{invoice['id']}", headers=owner.headers)
        assert one.json()["status"] == "open"

    async def test_subscription_lifecycle(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        assert_problem(await client.get("/api/billing/subscription", headers=owner.headers), 404)
        assert_problem(
            await client.post("/api/billing/subscription/cancel", headers=owner.headers), 404
        )
        free = await client.put(
            "/api/billing/subscription", json={"plan": "free"}, headers=owner.headers
        )
        assert (free.json()["plan"], free.json()["status"]) == ("free", "active")
        starter = await client.put(
            "/api/billing/subscription", json={"plan": "starter"}, headers=owner.headers
        )
        assert (starter.json()["plan"], starter.json()["status"]) == ("starter", "active")
        same = await client.put(
            "/api/billing/subscription", json={"plan": "starter"}, headers=owner.headers
        )
        assert same.json() == starter.json()
        canceled = await client.post("/api/billing/subscription/cancel", headers=owner.headers)
        assert canceled.json()["status"] == "canceled"
        assert canceled.json()["canceled_at"]
        again = await client.post("/api/billing/subscription/cancel", headers=owner.headers)
        assert again.json()["status"] == "canceled"
        back = await client.put(
            "/api/billing/subscription", json={"plan": "pro"}, headers=owner.headers
        )
        assert (back.json()["plan"], back.json()["status"]) == ("pro", "active")
        assert back.json()["canceled_at"] is None
        invoices = (await client.get("/api/billing/invoices", headers=owner.headers)).json()
        assert invoices["total"] == 2  # starter, then pro; free costs nothing
        names = {
            e["name"]
            for e in (await client.get("/api/events", headers=owner.headers)).json()["items"]
        }
        assert {
            "subscription.started",
            "subscription.plan_changed",
            "subscription.status_changed",
        } <= names


@pytest.fixture
def stripe() -> Iterator[RunningStripe]:
    yield from serve_stripe()


class TestStripeGateway:
    @pytest.fixture
    def settings_overrides(self, stripe: RunningStripe) -> dict[str, Any]:
        return {"stripe_api_key": API_KEY, "stripe_api_base": stripe.url}

    async def test_card_payment_pays_the_invoice(
        self, client: httpx.AsyncClient, stripe: RunningStripe
    ) -> None:
        owner = await register(client)
        await client.put(
            "/api/billing/subscription", json={"plan": "starter"}, headers=owner.headers
        )
        invoice = (await client.get("/api/billing/invoices", headers=owner.headers)).json()[
            "items"
        ][0]
        paid = await pay(
            client, owner, {"invoice_id": invoice["id"], "payment_method": "pm_card_visa"}, key="k"
        )
        assert paid.status_code == 201, paid.text
        body = paid.json()
        assert (body["status"], body["gateway"]) == ("succeeded", "stripe")
        assert body["gateway_reference"].startswith("pi_")
        form = stripe.state.requests[-1]
        assert (form["amount"], form["currency"], form["confirm"]) == ("2900", "usd", "true")
        assert form["metadata[payment_id]"] == body["id"]
        assert stripe.state.idempotency_keys[-1].startswith("flow-")
        invoice = (
            await client.get(f"/api/billing/invoices/{invoice['id']}", headers=owner.headers)
        ).json()
        assert invoice["status"] == "paid"
        assert invoice["paid_at"]
        sub = (await client.get("/api/billing/subscription", headers=owner.headers)).json()
        assert sub["status"] == "active"
        assert_problem(await pay(client, owner, {"invoice_id": invoice["id"]}), 409)

    async def test_declined_card_makes_the_subscription_past_due(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await register(client)
        await client.put("/api/billing/subscription", json={"plan": "pro"}, headers=owner.headers)
        invoice = (await client.get("/api/billing/invoices", headers=owner.headers)).json()[
            "items"
        ][0]
        declined = await pay(
            client, owner, {"invoice_id": invoice["id"], "payment_method": "pm_card_chargeDeclined"}
        )
        assert declined.status_code == 201
        body = declined.json()
        assert body["status"] == "failed"
        assert body["failure_message"] == "Your card was declined."
        sub = (await client.get("/api/billing/subscription", headers=owner.headers)).json()
        assert sub["status"] == "past_due"
        paid = await pay(
            client, owner, {"invoice_id": invoice["id"], "payment_method": "pm_card_visa"}
        )
        assert paid.json()["status"] == "succeeded"
        sub = (await client.get("/api/billing/subscription", headers=owner.headers)).json()
        assert sub["status"] == "active"

    @pytest.mark.parametrize(
        ("method", "status"),
        [(None, "pending"), ("pm_card_threeDSecure2Required", "requires_action")],
    )
    async def test_other_intent_states(
        self, client: httpx.AsyncClient, method: str | None, status: str
    ) -> None:
        owner = await register(client)
        body = {**PAY, **({"payment_method": method} if method else {})}
        assert (await pay(client, owner, body)).json()["status"] == status

    async def test_unknown_payment_method_is_422(self, client: httpx.AsyncClient, app: Any) -> None:
        owner = await register(client)
        refused = await pay(client, owner, {**PAY, "payment_method": "pm_nope"}, key="x")
        assert_problem(refused, 422)
        assert await payments_in_db(app) == 0
        # The failure rolled the key back: the retry is free to do the work.
        assert_problem(await pay(client, owner, {**PAY, "payment_method": "pm_nope"}, key="x"), 422)

    @pytest.mark.parametrize("mode", ["error500", "garbage"])
    async def test_outage_is_502_and_writes_nothing(
        self, client: httpx.AsyncClient, app: Any, stripe: RunningStripe, mode: str
    ) -> None:
        owner = await register(client)
        stripe.state.mode = mode
        assert_problem(await pay(client, owner, PAY, key="o"), 502, "payment-gateway-unavailable")
        assert await payments_in_db(app) == 0
        stripe.state.mode = "ok"
        assert (await pay(client, owner, PAY, key="o")).status_code == 201


class TestStripeUnreachable:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"stripe_api_key": API_KEY, "stripe_api_base": "http://127.0.0.1:9"}

    async def test_connection_refused_is_502(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        assert_problem(await pay(client, owner, PAY), 502, "payment-gateway-unavailable")

    async def test_wrong_key_is_502(self, client: httpx.AsyncClient) -> None:
        from intuitivus_flow.billing.payments.gateways import ChargeRequest, StripeGateway

        for running in serve_stripe():
            gateway = StripeGateway("sk_wrong", base_url=running.url)
            with pytest.raises(Exception, match="refused the request"):
                await gateway.charge(ChargeRequest(100, "USD", "x", "k"))
