"""Licences: sign-up with a required licence, redemption rules, e-mail delivery."""

from __future__ import annotations

import asyncio
import uuid
from email import message_from_bytes
from email.message import Message
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from intuitivus_flow.billing import tasks
from intuitivus_flow.billing.licences.service import DELIVER_LICENCE, new_licence_key, normalise_key
from intuitivus_flow.jobs.models import Job
from intuitivus_flow.jobs.worker import PermanentJobError
from intuitivus_flow.users.models import User
from tests.billing.conftest import licence_for, licence_key
from tests.billing.helpers import (
    WEBHOOK_SETTINGS,
    hotmart_event,
    send_hotmart,
    send_stripe,
    stripe_event,
)
from tests.cli.test_cli import free_port
from tests.helpers import PASSWORD, assert_problem, register, unique_email


def signup(licence: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "email": unique_email(),
        "password": PASSWORD,
        "workspace_name": "Bought",
    }
    if licence is not None:
        body["licence_key"] = licence
    return body


class TestSignupRequiresLicence:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {**WEBHOOK_SETTINGS, "signup_requires_licence": True}

    async def test_without_or_with_a_bad_key_nothing_is_created(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        missing = await client.post("/api/auth/register", json=signup())
        body = assert_problem(missing, 422, "invalid-licence")
        assert body["field"] == "licence_key"
        bogus = await client.post("/api/auth/register", json=signup(new_licence_key()))
        assert_problem(bogus, 422, "invalid-licence")
        async with app.state.context.sessions() as session:
            assert (await session.execute(select(User))).first() is None

    async def test_a_valid_key_signs_up_once(self, client: httpx.AsyncClient, app: Any) -> None:
        await send_hotmart(client, hotmart_event("PURCHASE_APPROVED", "HP-signup"))
        key = await licence_key(app, "hotmart", "HP-signup")
        # People retype keys: case, spaces and dashes do not matter.
        typed = key.lower().replace("-", " ")
        created = await client.post("/api/auth/register", json=signup(typed))
        assert created.status_code == 201, created.text
        headers = {"Authorization": f"Bearer {created.json()['access_token']}"}
        usage = (await client.get("/api/billing/usage", headers=headers)).json()
        assert (usage["plan"]["id"], usage["subscription"]["status"]) == ("pro", "active")
        licences = (await client.get("/api/billing/licences", headers=headers)).json()
        assert licences["items"][0]["status"] == "redeemed"
        reused = await client.post("/api/auth/register", json=signup(key))
        assert_problem(reused, 422, "invalid-licence")
        assert "already used" in reused.json()["detail"]

    async def test_a_revoked_key_is_refused(self, client: httpx.AsyncClient, app: Any) -> None:
        await send_stripe(client, stripe_event("checkout.session.completed", "pi_rv"))
        licence = await licence_for(app, "stripe", "pi_rv")
        assert licence is not None
        assert licence.delivery_ciphertext
        key = app.state.context.secrets.decrypt(licence.delivery_ciphertext)
        await send_stripe(client, stripe_event("charge.refunded", "pi_rv"))
        refused = await client.post("/api/auth/register", json=signup(key))
        assert "revoked" in assert_problem(refused, 422, "invalid-licence")["detail"]


class TestOptionalLicence:
    async def test_signup_without_a_key_works_and_with_one_redeems(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        assert (await client.post("/api/auth/register", json=signup())).status_code == 201
        assert (await client.post("/api/auth/register", json=signup("  "))).status_code == 201
        await send_stripe(client, stripe_event("checkout.session.completed", "pi_opt"))
        key = await licence_key(app, "stripe", "pi_opt")
        created = await client.post("/api/auth/register", json=signup(key))
        headers = {"Authorization": f"Bearer {created.json()['access_token']}"}
        usage = (await client.get("/api/billing/usage", headers=headers)).json()
        assert usage["plan"]["id"] == "starter"

    async def test_redeem_into_an_existing_workspace(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        await client.put(
            "/api/billing/subscription", json={"plan": "starter"}, headers=owner.headers
        )
        await send_hotmart(client, hotmart_event("PURCHASE_APPROVED", "HP-up"))
        key = await licence_key(app, "hotmart", "HP-up")
        redeemed = await client.post(
            "/api/billing/licences/redeem", json={"licence_key": key}, headers=owner.headers
        )
        assert redeemed.status_code == 201
        assert key not in redeemed.text
        assert redeemed.json()["key_hint"] == key[-4:]
        sub = (await client.get("/api/billing/subscription", headers=owner.headers)).json()
        assert (sub["plan"], sub["status"], sub["licence_id"]) == (
            "pro",
            "active",
            redeemed.json()["id"],
        )
        again = await client.post(
            "/api/billing/licences/redeem", json={"licence_key": key}, headers=owner.headers
        )
        assert_problem(again, 422, "invalid-licence")

    async def test_racing_redemptions_one_wins(self, client: httpx.AsyncClient, app: Any) -> None:
        await send_hotmart(client, hotmart_event("PURCHASE_APPROVED", "HP-race2"))
        key = await licence_key(app, "hotmart", "HP-race2")
        responses = await asyncio.gather(
            *(client.post("/api/auth/register", json=signup(key)) for _ in range(4))
        )
        assert sorted(r.status_code for r in responses) == [201, 422, 422, 422]


def test_keys_normalise() -> None:
    key = new_licence_key()
    assert len(key) == 3 + 6 * 5
    assert normalise_key(key.lower()) == key
    assert normalise_key("ifl" + key[3:].replace("-", "")) == key


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


class TestDelivery:
    @pytest.fixture
    def inbox(self) -> Any:
        handler = _Inbox()
        controller = Controller(handler, hostname="127.0.0.1", port=free_port())
        controller.start()
        yield handler, controller.port
        controller.stop()

    @pytest.fixture
    def settings_overrides(self, inbox: Any) -> dict[str, Any]:
        return {
            **WEBHOOK_SETTINGS,
            "smtp_host": "127.0.0.1",
            "smtp_port": inbox[1],
            "smtp_starttls": False,
        }

    async def _job(self, app: Any, licence_id: uuid.UUID) -> Job:
        async with app.state.context.sessions() as session:
            job: Job | None = await session.scalar(select(Job).where(Job.kind == DELIVER_LICENCE))
            assert job is not None
            assert job.payload == {"licence_id": str(licence_id)}
            return job

    async def test_the_key_is_mailed_once_then_forgotten(
        self, client: httpx.AsyncClient, app: Any, inbox: Any
    ) -> None:
        await send_hotmart(client, hotmart_event("PURCHASE_APPROVED", "HP-mail"))
        key = await licence_key(app, "hotmart", "HP-mail")
        licence = await licence_for(app, "hotmart", "HP-mail")
        assert licence is not None
        job = await self._job(app, licence.id)
        settings, box = app.state.context.settings, app.state.context.secrets
        for _ in range(2):  # at-least-once delivery: the second run finds nothing to send
            async with app.state.context.sessions() as session:
                await tasks.deliver(session, job, settings=settings, box=box)
                await session.commit()
        handler, _ = inbox
        assert len(handler.messages) == 1
        mail = handler.messages[0]
        assert mail["To"] == "comprador@example.com"
        assert key in mail.get_payload()
        delivered = await licence_for(app, "hotmart", "HP-mail")
        assert delivered is not None
        assert delivered.delivery_ciphertext is None
        assert delivered.delivered_at is not None

    async def test_revoked_and_undeliverable(
        self, client: httpx.AsyncClient, app: Any, inbox: Any
    ) -> None:
        settings, box = app.state.context.settings, app.state.context.secrets
        await send_hotmart(client, hotmart_event("PURCHASE_APPROVED", "HP-x"))
        licence = await licence_for(app, "hotmart", "HP-x")
        assert licence is not None
        job = await self._job(app, licence.id)
        async with app.state.context.sessions() as session:
            stored = await session.get(type(licence), licence.id)
            assert stored is not None
            stored.buyer_email = None
            await session.commit()
        async with app.state.context.sessions() as session:
            with pytest.raises(PermanentJobError, match="no buyer"):
                await tasks.deliver(session, job, settings=settings, box=box)
        no_smtp = settings.model_copy(update={"smtp_host": None})
        async with app.state.context.sessions() as session:
            stored = await session.get(type(licence), licence.id)
            assert stored is not None
            stored.buyer_email = "b@example.com"
            await session.flush()
            with pytest.raises(PermanentJobError, match="SMTP"):
                await tasks.deliver(session, job, settings=no_smtp, box=box)
            stored.delivery_ciphertext = "tampered"
            await session.flush()
            with pytest.raises(PermanentJobError):
                await tasks.deliver(session, job, settings=settings, box=box)
            stored.status = "revoked"
            assert (await tasks.deliver(session, job, settings=settings, box=box)) == {
                "status": "revoked"
            }
        assert inbox[0].messages == []
