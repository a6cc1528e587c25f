"""Consent per channel: changes with a reason and their trail, the marketing rule, and parallel
edits of one phone (one 409, no duplicate), on both engines."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from sqlalchemy import func, select

from intuitivus_flow.contacts import service as contacts
from intuitivus_flow.contacts.models import ConsentChannel, Contact
from intuitivus_flow.kit.db import unit_of_work
from tests.helpers import Account, assert_problem, register


async def create(client: httpx.AsyncClient, account: Account, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/contacts", json=fields, headers=account.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def consent(
    client: httpx.AsyncClient, account: Account, contact_id: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"/api/contacts/{contact_id}/consent", json=body, headers=account.headers
    )


async def history(client: httpx.AsyncClient, account: Account, contact_id: str) -> list[Any]:
    response = await client.get(f"/api/contacts/{contact_id}/consent", headers=account.headers)
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


class TestConsentChanges:
    async def test_each_channel_keeps_its_state_and_trail(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        contact = await create(client, owner, name="Ana", phone="+5511987650001")
        assert (contact["opt_in"], contact["email_opt_in"]) == ("unknown", "unknown")

        given = await consent(
            client, owner, contact["id"], channel="whatsapp", state="opted_in", reason="Web form"
        )
        assert given.status_code == 200, given.text
        assert given.json()["opt_in"] == "opted_in"
        assert given.json()["email_opt_in"] == "unknown"  # the other channel is untouched
        withdrawn = await consent(
            client, owner, contact["id"], channel="email", state="opted_out", reason="Asked"
        )
        assert withdrawn.json()["email_opt_in"] == "opted_out"
        assert withdrawn.json()["email_opt_in_changed_at"] is not None
        again = await consent(
            client, owner, contact["id"], channel="email", state="opted_out", reason="Twice"
        )
        assert again.status_code == 200  # the same decision again adds nothing to the trail

        trail = await history(client, owner, contact["id"])
        assert [(c["channel"], c["previous"], c["state"], c["reason"]) for c in trail] == [
            ("email", "unknown", "opted_out", "Asked"),
            ("whatsapp", "unknown", "opted_in", "Web form"),
        ]
        me = (await client.get("/api/auth/me", headers=owner.headers)).json()
        assert {c["actor"] for c in trail} == {f"user:{me['id']}"}
        assert {c["source"] for c in trail} == {"edit"}
        events = (await client.get("/api/events", headers=owner.headers)).json()["items"]
        changed = [e for e in events if e["name"] == "contact.consent_changed"]
        assert len(changed) == 2

    async def test_given_at_creation_and_by_patch_are_in_the_trail(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await register(client)
        contact = await create(client, owner, email="b@example.com", email_opt_in="opted_in")
        await client.patch(
            f"/api/contacts/{contact['id']}", json={"opt_in": "opted_out"}, headers=owner.headers
        )
        trail = await history(client, owner, contact["id"])
        assert [(c["channel"], c["state"], c["source"]) for c in trail] == [
            ("whatsapp", "opted_out", "edit"),
            ("email", "opted_in", "created"),
        ]

    async def test_bad_changes_are_refused(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        contact = await create(client, owner, name="C")
        for body in (
            {"channel": "sms", "state": "opted_in", "reason": "x"},
            {"channel": "email", "state": "unknown", "reason": "x"},
            {"channel": "email", "state": "opted_in", "reason": ""},
            {"channel": "email", "state": "opted_in", "reason": "x" * 501},
            {"channel": "email", "state": "opted_in"},
        ):
            assert_problem(await consent(client, owner, contact["id"], **body), 422)
        assert await history(client, owner, contact["id"]) == []
        missing = await consent(
            client, owner, str(uuid.uuid4()), channel="email", state="opted_in", reason="x"
        )
        assert_problem(missing, 404)

    async def test_other_workspaces_cannot_read_or_change_it(
        self, client: httpx.AsyncClient
    ) -> None:
        alpha = await register(client, workspace="Alpha")
        beta = await register(client, workspace="Beta")
        theirs = await create(client, beta, name="Beta's")
        await consent(client, beta, theirs["id"], channel="email", state="opted_in", reason="ok")
        changed = await consent(
            client, alpha, theirs["id"], channel="email", state="opted_out", reason="x"
        )
        assert_problem(changed, 404)
        read = await client.get(f"/api/contacts/{theirs['id']}/consent", headers=alpha.headers)
        assert_problem(read, 404)
        assert len(await history(client, beta, theirs["id"])) == 1


class TestMarketingRule:
    async def test_only_an_explicit_opt_in_is_consent(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        unknown = await create(client, owner, phone="+5511987650010")
        opted_in = await create(client, owner, phone="+5511987650011", opt_in="opted_in")
        opted_out = await create(client, owner, phone="+5511987650012", opt_in="opted_out")
        email_only = await create(client, owner, phone="+5511987650013", email_opt_in="opted_in")
        workspace_id = uuid.UUID(
            (await client.get("/api/workspace", headers=owner.headers)).json()["id"]
        )
        whatsapp = ConsentChannel.whatsapp
        async with unit_of_work(app.state.context.sessions) as session:
            refusals = {
                name: await contacts.marketing_consent_refusal(
                    session, workspace_id, uuid.UUID(contact["id"]), whatsapp
                )
                for name, contact in (
                    ("unknown", unknown),
                    ("opted_in", opted_in),
                    ("opted_out", opted_out),
                    ("email_only", email_only),
                )
            }
            gone = await contacts.marketing_consent_refusal(
                session, workspace_id, uuid.uuid4(), whatsapp
            )
        assert refusals["opted_in"] is None
        assert refusals["unknown"] == "No WhatsApp marketing consent: the contact has not opted in"
        assert refusals["email_only"] == refusals["unknown"]
        assert refusals["opted_out"] == "The contact opted out of WhatsApp messages"
        assert gone == "The contact no longer exists"


class TestParallelEdits:
    async def test_two_edits_to_one_phone_give_one_conflict_and_no_duplicate(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        first = await create(client, owner, name="First")
        second = await create(client, owner, name="Second")
        phone = "+5511987650099"
        for _ in range(3):  # a few rounds: the interleaving differs from one to the next
            responses = await asyncio.gather(
                *(
                    client.patch(
                        f"/api/contacts/{contact['id']}",
                        json={"phone": phone},
                        headers=owner.headers,
                    )
                    for contact in (first, second)
                )
            )
            statuses = sorted(response.status_code for response in responses)
            assert statuses in ([200, 409], [409, 409]), [r.text for r in responses]
            for response in responses:
                if response.status_code == 409:
                    body = assert_problem(response, 409, "conflict")
                    assert body["detail"] == "Another contact already has this phone number"
            async with unit_of_work(app.state.context.sessions) as session:
                holders = await session.scalar(
                    select(func.count()).select_from(Contact).where(Contact.phone == phone)
                )
                assert holders == 1
            for contact in (first, second):  # free the phone for the next round
                await client.patch(
                    f"/api/contacts/{contact['id']}", json={"phone": None}, headers=owner.headers
                )

    async def test_parallel_creates_with_one_phone(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        responses = await asyncio.gather(
            *(
                client.post(
                    "/api/contacts",
                    json={"name": f"n{i}", "phone": "+5511987650077"},
                    headers=owner.headers,
                )
                for i in range(4)
            )
        )
        assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
        listed = await client.get("/api/contacts", params={"q": "987650077"}, headers=owner.headers)
        assert listed.json()["total"] == 1
