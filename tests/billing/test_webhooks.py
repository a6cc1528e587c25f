"""Purchase webhooks from Stripe, Hotmart and Kiwify: signatures, idempotency, revocation."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from intuitivus_flow.billing.licences.service import DELIVER_LICENCE
from intuitivus_flow.billing.models import Licence, WebhookEvent
from intuitivus_flow.jobs.models import Job
from tests.billing.conftest import licence_for, licence_key
from tests.billing.helpers import (
    hotmart_event,
    kiwify_event,
    send_hotmart,
    send_kiwify,
    send_stripe,
    stripe_event,
    stripe_headers,
)
from tests.helpers import assert_problem, register


async def _count(app: Any, model: Any) -> int:
    async with app.state.context.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


class TestStripeSignature:
    async def test_valid_signature_issues_a_licence(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        response = await send_stripe(client, stripe_event("checkout.session.completed", "pi_1"))
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "processed"
        licence = await licence_for(app, "stripe", "pi_1")
        assert licence is not None
        assert (licence.plan, licence.status, licence.buyer_email) == (
            "starter",
            "available",
            "buyer@example.com",
        )
        key = await licence_key(app, "stripe", "pi_1")
        assert key.startswith("IFL-")
        assert licence.key_hash != key
        assert key.endswith(licence.key_hint)

    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"Stripe-Signature": "garbage"},
            {"Stripe-Signature": "t=abc,v1=00"},
            {"Stripe-Signature": f"t={int(time.time())},v1={'0' * 64}"},
        ],
        ids=["missing", "malformed", "bad-timestamp", "wrong-signature"],
    )
    async def test_invalid_signatures_write_nothing(
        self, client: httpx.AsyncClient, app: Any, headers: dict[str, str]
    ) -> None:
        body = stripe_event("checkout.session.completed", "pi_2")
        response = await client.post("/api/billing/webhooks/stripe", content=body, headers=headers)
        assert_problem(response, 401, "invalid-signature")
        assert await _count(app, WebhookEvent) == 0
        assert await _count(app, Licence) == 0

    async def test_signed_with_another_secret(self, client: httpx.AsyncClient) -> None:
        body = stripe_event("checkout.session.completed", "pi_3")
        response = await client.post(
            "/api/billing/webhooks/stripe",
            content=body,
            headers=stripe_headers(body, secret="whsec_other"),
        )
        assert_problem(response, 401, "invalid-signature")

    async def test_replayed_old_timestamp_is_refused(self, client: httpx.AsyncClient) -> None:
        body = stripe_event("checkout.session.completed", "pi_4")
        old = await send_stripe(client, body, at=int(time.time()) - 400)
        assert_problem(old, 401, "invalid-signature")
        future = await send_stripe(client, body, at=int(time.time()) + 400)
        assert_problem(future, 401, "invalid-signature")

    async def test_tampered_body_is_refused(self, client: httpx.AsyncClient) -> None:
        body = stripe_event("checkout.session.completed", "pi_5")
        headers = stripe_headers(body)
        tampered = body.replace(b"pi_5", b"pi_6")
        response = await client.post(
            "/api/billing/webhooks/stripe", content=tampered, headers=headers
        )
        assert_problem(response, 401, "invalid-signature")


class TestHotmartAndKiwifySignatures:
    async def test_hotmart_token(self, client: httpx.AsyncClient, app: Any) -> None:
        body = hotmart_event("PURCHASE_APPROVED", "HP123")
        assert_problem(await send_hotmart(client, body, token=None), 401, "invalid-signature")
        assert_problem(await send_hotmart(client, body, token="wrong"), 401, "invalid-signature")
        ok = await send_hotmart(client, body)
        assert ok.json()["status"] == "processed"
        licence = await licence_for(app, "hotmart", "HP123")
        assert licence is not None
        assert licence.plan == "pro"

    async def test_kiwify_signature(self, client: httpx.AsyncClient, app: Any) -> None:
        body = kiwify_event("order_approved", "K-1")
        assert_problem(await send_kiwify(client, body, signature=""), 401, "invalid-signature")
        assert_problem(await send_kiwify(client, body, signature="ab" * 20), 401)
        missing = await client.post(
            "/api/billing/webhooks/kiwify",
            content=body,
            headers={"content-type": "application/json"},
        )
        assert_problem(missing, 401, "invalid-signature")
        ok = await send_kiwify(client, body)
        assert ok.json() == {"status": "processed", "event_id": "K-1:order_approved"}
        licence = await licence_for(app, "kiwify", "K-1")
        assert licence is not None
        assert licence.plan == "starter"

    async def test_unknown_platform_is_404(self, client: httpx.AsyncClient) -> None:
        assert_problem(await client.post("/api/billing/webhooks/paypal", content=b"{}"), 404)


class TestUnconfigured:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {}

    async def test_nothing_is_accepted_without_a_secret(self, client: httpx.AsyncClient) -> None:
        body = hotmart_event("PURCHASE_APPROVED", "HP9")
        assert_problem(await send_hotmart(client, body, token=""), 401, "invalid-signature")
        assert_problem(await send_stripe(client, stripe_event("x", "pi")), 401)
        assert_problem(await send_kiwify(client, kiwify_event("order_approved", "K")), 401)


class TestMalformedBodies:
    @pytest.mark.parametrize(
        "body",
        [
            b"",
            b"{not json",
            b"[]",
            b'"text"',
            b"{}",
            b'{"id": 5}',
            b'{"id": "e", "type": []}',
            b"[" * 5000,
        ],
    )
    async def test_signed_garbage_is_422_not_500(
        self, client: httpx.AsyncClient, body: bytes
    ) -> None:
        assert_problem(await send_stripe(client, body), 422)
        assert_problem(await send_hotmart(client, body), 422)
        assert_problem(await send_kiwify(client, body), 422)

    async def test_odd_but_valid_shapes_are_ignored(self, client: httpx.AsyncClient) -> None:
        weird = b'{"id": "evt_w", "type": "checkout.session.completed", "data": {"object": []}}'
        response = await send_stripe(client, weird)
        assert response.json()["status"] == "ignored"
        other = await send_hotmart(client, hotmart_event("SUBSCRIPTION_CANCELLATION", "HP1"))
        assert other.json()["status"] == "ignored"


class TestDuplicates:
    async def test_redelivery_is_processed_once(self, client: httpx.AsyncClient, app: Any) -> None:
        body = stripe_event("checkout.session.completed", "pi_dup", event_id="evt_dup")
        first = await send_stripe(client, body)
        again = await send_stripe(client, body)
        assert first.json()["status"] == "processed"
        assert again.status_code == 200
        assert again.json()["status"] == "duplicate"
        assert await _count(app, Licence) == 1
        assert await _count(app, WebhookEvent) == 1

    async def test_concurrent_redeliveries(self, client: httpx.AsyncClient, app: Any) -> None:
        body = hotmart_event("PURCHASE_APPROVED", "HP-race", event_id="race-1")
        responses = await asyncio.gather(*(send_hotmart(client, body) for _ in range(6)))
        statuses = sorted(response.json()["status"] for response in responses)
        assert statuses == ["duplicate"] * 5 + ["processed"]
        assert await _count(app, Licence) == 1

    async def test_another_event_for_the_same_order_issues_no_second_licence(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        await send_hotmart(client, hotmart_event("PURCHASE_APPROVED", "HP-2"))
        complete = await send_hotmart(client, hotmart_event("PURCHASE_COMPLETE", "HP-2"))
        assert complete.json()["status"] == "processed"
        assert await _count(app, Licence) == 1


class TestEventsOfOneOrderInParallel:
    """Platforms send several events for one order close together (Hotmart: APPROVED then
    COMPLETE; Stripe: the checkout session and its PaymentIntent). Ten different events for one
    order at once: every one is answered 200 and exactly one licence is issued and mailed."""

    @pytest.mark.parametrize(
        ("send", "events"),
        [
            (
                send_hotmart,
                [
                    hotmart_event(("PURCHASE_APPROVED", "PURCHASE_COMPLETE")[i % 2], "HP-par")
                    for i in range(10)
                ],
            ),
            (
                send_stripe,
                [
                    stripe_event("checkout.session.completed", "pi_par")
                    if i % 2
                    else stripe_event("payment_intent.succeeded", "ignored", id="pi_par")
                    for i in range(10)
                ],
            ),
            (
                send_kiwify,
                [kiwify_event(f"order_paid_{i}", "K-par") for i in range(9)]
                + [kiwify_event("order_approved", "K-par")],
            ),
        ],
        ids=["hotmart", "stripe", "kiwify"],
    )
    async def test_one_licence_and_no_conflict(
        self, client: httpx.AsyncClient, app: Any, send: Any, events: list[bytes]
    ) -> None:
        responses = await asyncio.gather(*(send(client, body) for body in events))
        assert [r.status_code for r in responses] == [200] * len(events), [
            r.text for r in responses if r.status_code != 200
        ]
        assert {response.json()["status"] for response in responses} == {"processed"}
        assert await _count(app, Licence) == 1
        async with app.state.context.sessions() as session:
            outcomes = sorted((await session.scalars(select(WebhookEvent.outcome))).all())
            deliveries = await session.scalar(
                select(func.count()).select_from(Job).where(Job.kind == DELIVER_LICENCE)
            )
        assert outcomes == ["already_issued"] * (len(events) - 1) + ["issued"]
        assert deliveries == 1


class TestRevocation:
    @pytest.mark.parametrize(
        ("purchase", "revoke", "send", "platform", "order"),
        [
            (
                stripe_event("checkout.session.completed", "pi_r"),
                stripe_event("charge.refunded", "pi_r"),
                send_stripe,
                "stripe",
                "pi_r",
            ),
            (
                stripe_event("payment_intent.succeeded", "ignored", id="pi_c"),
                stripe_event("charge.dispute.created", "pi_c"),
                send_stripe,
                "stripe",
                "pi_c",
            ),
            (
                hotmart_event("PURCHASE_APPROVED", "HP-r"),
                hotmart_event("PURCHASE_CHARGEBACK", "HP-r"),
                send_hotmart,
                "hotmart",
                "HP-r",
            ),
            (
                kiwify_event("order_approved", "K-r"),
                kiwify_event("order_refunded", "K-r", status="refunded"),
                send_kiwify,
                "kiwify",
                "K-r",
            ),
        ],
        ids=["stripe-refund", "stripe-dispute", "hotmart-chargeback", "kiwify-refund"],
    )
    async def test_refund_or_chargeback_revokes(
        self,
        client: httpx.AsyncClient,
        app: Any,
        purchase: bytes,
        revoke: bytes,
        send: Any,
        platform: str,
        order: str,
    ) -> None:
        await send(client, purchase)
        response = await send(client, revoke)
        assert response.json()["status"] == "processed"
        licence = await licence_for(app, platform, order)
        assert licence is not None
        assert licence.status == "revoked"
        assert licence.revoke_reason in {"refund", "chargeback"}
        assert licence.delivery_ciphertext is None  # an undelivered key is never sent now
        again = await send(client, revoke)
        assert again.json()["status"] in {"duplicate", "processed"}

    async def test_revoking_a_redeemed_licence_ends_the_plan(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        await send_stripe(client, stripe_event("checkout.session.completed", "pi_plan"))
        key = await licence_key(app, "stripe", "pi_plan")
        redeemed = await client.post(
            "/api/billing/licences/redeem", json={"licence_key": key}, headers=owner.headers
        )
        assert redeemed.status_code == 201, redeemed.text
        usage = (await client.get("/api/billing/usage", headers=owner.headers)).json()
        assert (usage["plan"]["id"], usage["subscription"]["status"]) == ("starter", "active")
        await send_stripe(client, stripe_event("charge.refunded", "pi_plan"))
        usage = (await client.get("/api/billing/usage", headers=owner.headers)).json()
        assert usage["plan"]["id"] == "free"
        assert usage["subscription"]["status"] == "canceled"
        mine = (await client.get("/api/billing/licences", headers=owner.headers)).json()
        assert mine["items"][0]["status"] == "revoked"
        assert key not in str(mine)
        events = (await client.get("/api/events", headers=owner.headers)).json()
        assert {"licence.redeemed", "licence.revoked"} <= {e["name"] for e in events["items"]}

    async def test_refund_for_an_unknown_order_is_recorded_and_ignored(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        response = await send_stripe(client, stripe_event("charge.refunded", "pi_unknown"))
        assert response.json()["status"] == "ignored"
        assert await _count(app, WebhookEvent) == 1
