"""Operators confirm or fail pending manual payments: over the API, the service (concurrent
sessions) and the web desk, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from sqlalchemy import func, select

from intuitivus_flow.billing.models import Payment, PaymentStatus
from intuitivus_flow.billing.payments import manual as manual_payments
from intuitivus_flow.events.models import Event
from intuitivus_flow.kit.db import unit_of_work
from tests.billing.helpers import (
    event_names,
    make_operator,
    pay_manually,
    pending_invoice_payment,
    subscription_of,
    workspace_of,
)
from tests.conftest import Database
from tests.helpers import PASSWORD, Account, assert_problem, invite_and_join, register
from tests.web.browsing import csrf_from, submit, text_of

DESK = "/api/billing/operator/payments"


async def confirm(client: httpx.AsyncClient, who: Account, payment_id: str) -> httpx.Response:
    return await client.post(f"{DESK}/{payment_id}/confirm", headers=who.headers)


async def fail(
    client: httpx.AsyncClient, who: Account, payment_id: str, reason: str = "Transfer bounced"
) -> httpx.Response:
    return await client.post(
        f"{DESK}/{payment_id}/fail", json={"reason": reason}, headers=who.headers
    )


async def invoice_status(client: httpx.AsyncClient, who: Account, invoice_id: str) -> str:
    found = await client.get(f"/api/billing/invoices/{invoice_id}", headers=who.headers)
    status: str = found.json()["status"]
    return status


async def count_events(app: Any, name: str) -> int:
    async with app.state.context.sessions() as session:
        found = await session.scalar(
            select(func.count()).select_from(Event).where(Event.name == name)
        )
        return int(found or 0)


class TestConfirm:
    async def test_confirm_pays_the_invoice_and_activates(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        operator = await make_operator(client, app)
        customer = await register(client, workspace="Customer Co")
        invoice, payment = await pending_invoice_payment(client, customer)
        assert (await subscription_of(client, customer))["status"] == "trialing"

        listed = (await client.get(f"{DESK}/pending", headers=operator.headers)).json()
        assert listed["total"] == 1
        row = listed["items"][0]
        assert (row["id"], row["workspace_name"], row["amount_minor"]) == (
            payment["id"],
            "Customer Co",
            9900,
        )
        assert row["workspace_id"] == str(await workspace_of(client, customer))

        confirmed = await confirm(client, operator, payment["id"])
        assert confirmed.status_code == 200, confirmed.text
        body = confirmed.json()
        assert (body["status"], body["changed"], body["workspace_name"]) == (
            "succeeded",
            True,
            "Customer Co",
        )
        assert await invoice_status(client, customer, invoice["id"]) == "paid"
        assert (await subscription_of(client, customer))["status"] == "active"
        ledger = (await client.get("/api/billing/payments", headers=customer.headers)).json()
        assert ledger["items"][0]["status"] == "succeeded"
        assert (await client.get(f"{DESK}/pending", headers=operator.headers)).json()["total"] == 0

        # The customer sees what happened to the payment; the operators keep their own trail.
        assert "payment.confirmed" in await event_names(client, customer)
        assert "operator.payment_settled" not in await event_names(client, customer)
        assert "operator.payment_settled" in await event_names(client, operator)

        # Confirming again changes nothing; failing a confirmed payment is a conflict.
        again = await confirm(client, operator, payment["id"])
        assert (again.status_code, again.json()["changed"]) == (200, False)
        assert_problem(await fail(client, operator, payment["id"]), 409, "conflict")
        assert await count_events(app, "payment.confirmed") == 1

    async def test_fail_makes_the_subscription_past_due(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        operator = await make_operator(client, app)
        customer = await register(client)
        invoice, payment = await pending_invoice_payment(client, customer)

        assert_problem(await fail(client, operator, payment["id"], reason="   "), 422)
        assert_problem(await fail(client, operator, payment["id"], reason="x" * 501), 422)
        failed = await fail(client, operator, payment["id"], reason="Transfer bounced")
        assert failed.status_code == 200, failed.text
        body = failed.json()
        assert (body["status"], body["failure_message"], body["changed"]) == (
            "failed",
            "Transfer bounced",
            True,
        )
        assert await invoice_status(client, customer, invoice["id"]) == "open"
        assert (await subscription_of(client, customer))["status"] == "past_due"
        names = await event_names(client, customer)
        assert {"payment.marked_failed", "subscription.status_changed"} <= set(names)

        again = await fail(client, operator, payment["id"], reason="Still bounced")
        assert (again.status_code, again.json()["changed"]) == (200, False)
        assert again.json()["failure_message"] == "Transfer bounced"
        assert_problem(await confirm(client, operator, payment["id"]), 409)

        # A new payment of the still-open invoice, confirmed, brings the subscription back.
        retry = await pay_manually(client, customer, {"invoice_id": invoice["id"]})
        assert (await confirm(client, operator, retry["id"])).json()["changed"] is True
        assert (await subscription_of(client, customer))["status"] == "active"

    async def test_an_amount_payment_just_succeeds(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        operator = await make_operator(client, app)
        customer = await register(client)
        payment = await pay_manually(
            client, customer, {"amount_minor": 1999, "currency": "EUR", "description": "Setup"}
        )
        confirmed = (await confirm(client, operator, payment["id"])).json()
        assert (confirmed["status"], confirmed["amount_minor"], confirmed["currency"]) == (
            "succeeded",
            1999,
            "EUR",
        )
        assert_problem(await client.get("/api/billing/subscription", headers=customer.headers), 404)

    async def test_unknown_and_non_manual_payments_are_404(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        operator = await make_operator(client, app)
        customer = await register(client)
        assert_problem(await confirm(client, operator, str(uuid.uuid4())), 404)
        assert_problem(
            await client.post(f"{DESK}/not-an-id/confirm", headers=operator.headers), 422
        )
        # A Stripe payment waiting for the payer is Stripe's to settle, not an operator's.
        async with unit_of_work(app.state.context.sessions) as session:
            stripe = Payment(
                workspace_id=await workspace_of(client, customer),
                amount_minor=500,
                currency="USD",
                status=PaymentStatus.pending.value,
                gateway="stripe",
            )
            session.add(stripe)
        assert_problem(await confirm(client, operator, str(stripe.id)), 404)
        listed = (await client.get(f"{DESK}/pending", headers=operator.headers)).json()
        assert listed["total"] == 0


class TestWhoMay:
    async def test_only_operators(self, client: httpx.AsyncClient, app: Any) -> None:
        customer = await register(client)
        _, payment = await pending_invoice_payment(client, customer)
        # No FLOW_OPERATOR_WORKSPACES: unlike the health pages, nobody may settle money, not
        # even the workspace's own owner (who would otherwise confirm their own payment).
        assert app.state.context.settings.operator_workspaces == []
        assert_problem(await confirm(client, customer, payment["id"]), 403, "forbidden")
        assert_problem(await client.get(f"{DESK}/pending", headers=customer.headers), 403)

        operator = await make_operator(client, app)
        member = await invite_and_join(client, operator)  # of the operator workspace
        admin = await invite_and_join(client, customer, role="admin")
        for refused in (customer, admin, member):
            assert_problem(await confirm(client, refused, payment["id"]), 403)
            assert_problem(await fail(client, refused, payment["id"]), 403)
            assert_problem(await client.get(f"{DESK}/pending", headers=refused.headers), 403)
        assert_problem(await client.get(f"{DESK}/pending"), 401)
        ledger = (await client.get("/api/billing/payments", headers=customer.headers)).json()
        assert ledger["items"][0]["status"] == "pending"

        operators_admin = await invite_and_join(client, operator, role="admin")
        assert (await confirm(client, operators_admin, payment["id"])).status_code == 200


class TestConcurrency:
    async def test_two_operators_at_once_one_transition(
        self, client: httpx.AsyncClient, app: Any, database: Database
    ) -> None:
        """Two sessions confirm (or one confirms, one fails) the same payment at the same
        time: exactly one changes it, the invoice is settled once."""
        customer = await register(client)
        invoice, payment = await pending_invoice_payment(client, customer)
        payment_id = uuid.UUID(payment["id"])
        operator = manual_payments.shell_operator()

        async def decide(outcome: str) -> manual_payments.Decision | Exception:
            try:
                async with unit_of_work(app.state.context.sessions) as session:
                    if outcome == "confirm":
                        return await manual_payments.confirm(session, operator, payment_id)
                    return await manual_payments.mark_failed(
                        session, operator, payment_id, reason="no"
                    )
            except Exception as exc:  # the loser of a confirm/fail race gets a 409
                return exc

        results = await asyncio.gather(decide("confirm"), decide("confirm"))
        changed = [r.changed for r in results if isinstance(r, manual_payments.Decision)]
        assert sorted(changed) == [False, True], results
        assert await count_events(app, "payment.confirmed") == 1
        activations = [
            e
            for e in (
                await client.get(
                    "/api/events?name=subscription.status_changed", headers=customer.headers
                )
            ).json()["items"]
            if e["properties"]["to"] == "active"
        ]
        assert len(activations) == 1
        assert await invoice_status(client, customer, invoice["id"]) == "paid"

        second = await pay_manually(
            client, customer, {"amount_minor": 100, "currency": "USD", "description": "x"}
        )
        payment_id = uuid.UUID(second["id"])
        results = await asyncio.gather(decide("confirm"), decide("fail"))
        winners = [r for r in results if isinstance(r, manual_payments.Decision)]
        losers = [r for r in results if not isinstance(r, manual_payments.Decision)]
        assert len(winners) == 1, results
        assert winners[0].changed
        assert len(losers) == 1
        assert "already" in str(losers[0])


class TestDeskPage:
    async def test_operator_confirms_and_fails_in_the_browser(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        operator = await make_operator(client, app)
        customer = await register(client, workspace="Browser Customer")
        invoice, payment = await pending_invoice_payment(client, customer)
        other = await pay_manually(
            client, customer, {"amount_minor": 1234, "currency": "EUR", "description": "Extra"}
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as web:
            signed_in = await submit(
                web, "/signin", "/signin", {"email": operator.email, "password": PASSWORD}
            )
            assert signed_in.status_code == 303
            assert 'href="/operator/payments"' in (await web.get("/billing")).text
            page = await web.get("/operator/payments")
            assert page.status_code == 200
            text = text_of(page.text)
            for shown in ("Browser Customer", "99.00 USD", "12.34 EUR"):
                assert shown in text

            no_reason = await web.post(
                f"/operator/payments/{other['id']}/fail",
                data={"reason": " ", "csrf_token": csrf_from(page.text)},
            )
            assert no_reason.status_code == 422
            assert "Give a reason" in no_reason.text
            failed = await web.post(
                f"/operator/payments/{other['id']}/fail",
                data={"reason": "Wrong account", "csrf_token": csrf_from(page.text)},
            )
            assert failed.status_code == 303
            done = await web.post(
                f"/operator/payments/{payment['id']}/confirm",
                data={"csrf_token": csrf_from(page.text)},
            )
            assert done.status_code == 303
            after = await web.get(done.headers["location"])
            assert "The payment was confirmed" in after.text
            assert "No manual payments are waiting." in after.text
            again = await web.post(
                f"/operator/payments/{other['id']}/confirm",
                data={"csrf_token": csrf_from(page.text)},
            )
            assert again.status_code == 409
            assert "already failed" in again.text
            missing = await web.post(
                "/operator/payments/nope/confirm", data={"csrf_token": csrf_from(page.text)}
            )
            assert missing.status_code == 404
            no_csrf = await web.post(f"/operator/payments/{payment['id']}/confirm")
            assert no_csrf.status_code == 403
        assert await invoice_status(client, customer, invoice["id"]) == "paid"
        ledger = (await client.get("/api/billing/payments", headers=customer.headers)).json()
        reasons = {item["id"]: item["failure_message"] for item in ledger["items"]}
        assert reasons[other["id"]] == "Wrong account"

    async def test_non_operators_get_403(self, client: httpx.AsyncClient, app: Any) -> None:
        customer = await register(client)
        _, payment = await pending_invoice_payment(client, customer)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as web:
            await submit(web, "/signin", "/signin", {"email": customer.email, "password": PASSWORD})
            billing = await web.get("/billing")
            assert 'href="/operator/payments"' not in billing.text
            assert (await web.get("/operator/payments")).status_code == 403
            refused = await web.post(
                f"/operator/payments/{payment['id']}/confirm",
                data={"csrf_token": csrf_from(billing.text)},
            )
            assert refused.status_code == 403
        ledger = (await client.get("/api/billing/payments", headers=customer.headers)).json()
        assert ledger["items"][0]["status"] == "pending"
