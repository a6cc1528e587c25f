"""Inbox, settings and numbers, campaign sends, and tenant isolation, on both engines."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from intuitivus_flow.conversations import service as conversations
from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.kit.errors import InvalidInput
from tests.conversations.graph_server import RunningGraph, serve_graph
from tests.conversations.support import (
    Tenant,
    connect,
    inbound_body,
    inbox,
    post_webhook,
    run_jobs,
    thread,
)
from tests.helpers import assert_problem, invite_and_join, register


@pytest.fixture
def graph() -> Iterator[RunningGraph]:
    yield from serve_graph()


@pytest.fixture
def settings_overrides(graph: RunningGraph) -> dict[str, Any]:
    return {"whatsapp_graph_url": graph.url}


async def workspace_id(client: httpx.AsyncClient, tenant: Tenant) -> uuid.UUID:
    body = (await client.get("/api/workspace", headers=tenant.owner.headers)).json()
    return uuid.UUID(body["id"])


async def contact(client: httpx.AsyncClient, tenant: Tenant, **fields: Any) -> uuid.UUID:
    response = await client.post(
        "/api/contacts", json={"phone": "+5511987654321", **fields}, headers=tenant.owner.headers
    )
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["id"])


class TestCampaignSends:
    async def test_template_send_is_idempotent_on_its_key(
        self, client: httpx.AsyncClient, app: Any, graph: RunningGraph
    ) -> None:
        tenant = await connect(client)
        ws, person = await workspace_id(client, tenant), await contact(client, tenant)
        components = [{"type": "body", "parameters": [{"type": "text", "text": "Maria"}]}]
        ids = []
        for _ in range(2):
            async with unit_of_work(app.state.context.sessions) as session:
                message = await conversations.send_whatsapp_template(
                    session,
                    ws,
                    contact_id=person,
                    template="spring_sale",
                    language="pt_BR",
                    components=components,
                    idempotency_key="campaign:step-1:contact-1",
                )
                ids.append(message.id)
            await run_jobs(app)
        assert ids[0] == ids[1]
        [sent] = graph.state.bodies("template")
        assert sent["template"] == {
            "name": "spring_sale",
            "language": {"code": "pt_BR"},
            "components": components,
        }
        assert sent["to"] == "5511987654321"
        conversation = (await inbox(client, tenant.owner))["items"][0]
        [message_row] = await thread(client, tenant.owner, conversation["id"])
        assert (message_row["kind"], message_row["status"]) == ("template", "sent")

    async def test_text_send_is_idempotent_and_uses_the_last_number(
        self, client: httpx.AsyncClient, app: Any, graph: RunningGraph
    ) -> None:
        tenant = await connect(client)
        await post_webhook(client, inbound_body(tenant.phone_number_id))
        ws = await workspace_id(client, tenant)
        person = uuid.UUID((await inbox(client, tenant.owner))["items"][0]["contact"]["id"])
        for _ in range(2):
            async with unit_of_work(app.state.context.sessions) as session:
                await conversations.send_text(
                    session, ws, contact_id=person, text="Your order shipped", idempotency_key="k1"
                )
        await run_jobs(app)
        texts = [body["text"]["body"] for body in graph.state.bodies("text")]
        assert texts.count("Your order shipped") == 1
        assert {number for _, number, _ in graph.state.sent} == {tenant.phone_number_id}

    async def test_refusals(self, client: httpx.AsyncClient, app: Any) -> None:
        tenant = await connect(client)
        ws = await workspace_id(client, tenant)
        no_phone = await contact(client, tenant, phone=None)
        opted_out = await contact(client, tenant, phone="+14155550100", opt_in="opted_out")
        for person in (no_phone, opted_out):
            with pytest.raises(InvalidInput):
                async with unit_of_work(app.state.context.sessions) as session:
                    await conversations.send_text(
                        session, ws, contact_id=person, text="x", idempotency_key=str(person)
                    )
        lonely = await register(client, workspace="No numbers")
        lonely_tenant = Tenant(lonely, "", "", "")
        person = await contact(client, lonely_tenant)
        with pytest.raises(InvalidInput, match="No WhatsApp number"):
            async with unit_of_work(app.state.context.sessions) as session:
                await conversations.send_text(
                    session,
                    await workspace_id(client, lonely_tenant),
                    contact_id=person,
                    text="x",
                    idempotency_key="k",
                )

    async def test_removed_number_fails_pending_deliveries(
        self, client: httpx.AsyncClient, app: Any, graph: RunningGraph
    ) -> None:
        tenant = await connect(client)
        await post_webhook(client, inbound_body(tenant.phone_number_id))
        removed = await client.delete(
            f"/api/channels/whatsapp/numbers/{tenant.number_id}", headers=tenant.owner.headers
        )
        assert removed.status_code == 204
        await run_jobs(app)
        conversation = (await inbox(client, tenant.owner))["items"][0]
        reply = (await thread(client, tenant.owner, conversation["id"]))[-1]
        assert (reply["status"], graph.state.sent) == ("failed", [])


class TestNumbersAndSettings:
    async def test_numbers_never_show_secrets(self, client: httpx.AsyncClient) -> None:
        tenant = await connect(client)
        listed = await client.get("/api/channels/whatsapp/numbers", headers=tenant.owner.headers)
        [number] = listed.json()
        assert number["token_hint"].startswith("…")
        assert "token" not in str({k: v for k, v in number.items() if k != "token_hint"})
        assert "app_secret" not in number

    async def test_a_number_connects_once(self, client: httpx.AsyncClient) -> None:
        tenant = await connect(client)
        other = await register(client, workspace="Other")
        again = await client.post(
            "/api/channels/whatsapp/numbers",
            json={
                "phone_number_id": tenant.phone_number_id,
                "access_token": "token-12345678",
                "verify_token": "verify-12345678",
                "app_secret": "secret-12345678",
            },
            headers=other.headers,
        )
        assert_problem(again, 409)

    async def test_members_read_but_only_admins_configure(self, client: httpx.AsyncClient) -> None:
        tenant = await connect(client)
        member = await invite_and_join(client, tenant.owner)
        assert (
            await client.get("/api/channels/whatsapp/numbers", headers=member.headers)
        ).status_code == 200
        refused = await client.post(
            "/api/channels/whatsapp/numbers",
            json={
                "phone_number_id": "123",
                "access_token": "token-12345678",
                "verify_token": "verify-12345678",
                "app_secret": "secret-12345678",
            },
            headers=member.headers,
        )
        assert_problem(refused, 403)
        assert_problem(
            await client.patch(
                "/api/conversations/settings",
                json={"widget_enabled": False},
                headers=member.headers,
            ),
            403,
        )

    async def test_settings_refuse_foreign_agents(self, client: httpx.AsyncClient) -> None:
        alpha = await connect(client, workspace="Alpha")
        beta = await connect(client, workspace="Beta")
        response = await client.patch(
            "/api/conversations/settings",
            json={"default_agent_id": beta.agent_id},
            headers=alpha.owner.headers,
        )
        assert_problem(response, 404)
        numbers = await client.post(
            "/api/channels/whatsapp/numbers",
            json={
                "phone_number_id": "4242",
                "access_token": "token-12345678",
                "verify_token": "verify-12345678",
                "app_secret": "secret-12345678",
                "agent_id": beta.agent_id,
            },
            headers=alpha.owner.headers,
        )
        assert_problem(numbers, 404)


class TestIsolation:
    async def test_foreign_ids_answer_404_and_lists_do_not_leak(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        alpha = await connect(client, workspace="Alpha")
        beta = await connect(client, workspace="Beta")
        await post_webhook(client, inbound_body(alpha.phone_number_id, text="alpha secret"))
        await post_webhook(client, inbound_body(beta.phone_number_id, text="beta secret"))
        theirs = (await inbox(client, beta.owner))["items"][0]["id"]
        headers = alpha.owner.headers
        for method, suffix, body in [
            ("GET", "", None),
            ("GET", "/messages", None),
            ("POST", "/messages", {"text": "hi"}),
            ("POST", "/escalate", None),
            ("POST", "/hand-back", None),
            ("POST", "/close", None),
            ("PUT", "/agent", {"agent_id": None}),
        ]:
            response = await client.request(
                method, f"/api/conversations/{theirs}{suffix}", json=body, headers=headers
            )
            assert_problem(response, 404)
        assign_foreign = await client.put(
            f"/api/conversations/{(await inbox(client, alpha.owner))['items'][0]['id']}/agent",
            json={"agent_id": beta.agent_id},
            headers=headers,
        )
        assert_problem(assign_foreign, 404)
        assert_problem(
            await client.delete(
                f"/api/channels/whatsapp/numbers/{beta.number_id}", headers=headers
            ),
            404,
        )
        mine = await inbox(client, alpha.owner)
        assert "beta secret" not in str(mine)
        numbers = (await client.get("/api/channels/whatsapp/numbers", headers=headers)).json()
        assert [n["id"] for n in numbers] == [alpha.number_id]
        await run_jobs(app)
        assert (await inbox(client, beta.owner))["items"][0]["state"] == "open"

    async def test_inbox_needs_a_credential(self, client: httpx.AsyncClient) -> None:
        assert_problem(await client.get("/api/conversations"), 401)


class TestEvents:
    async def test_actions_are_recorded(self, client: httpx.AsyncClient, app: Any) -> None:
        tenant = await connect(client)
        await post_webhook(client, inbound_body(tenant.phone_number_id))
        await run_jobs(app)
        conversation = (await inbox(client, tenant.owner))["items"][0]["id"]
        for action in ("escalate", "hand-back", "close"):
            await client.post(
                f"/api/conversations/{conversation}/{action}", headers=tenant.owner.headers
            )
        events = await client.get(
            "/api/events", params={"limit": 100}, headers=tenant.owner.headers
        )
        names = {event["name"] for event in events.json()["items"]}
        assert {
            "whatsapp_number.added",
            "conversation.started",
            "conversation.message_received",
            "conversation.agent_replied",
            "conversation.escalated",
            "conversation.handed_back",
            "conversation.closed",
        } <= names
