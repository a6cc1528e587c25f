"""WhatsApp end to end on both engines: webhook → store → job → agent → Graph API (fake)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from intuitivus_flow.conversations import handover
from tests.conversations.graph_server import RunningGraph, serve_graph
from tests.conversations.support import (
    VERIFY_TOKEN,
    WEBHOOK,
    Tenant,
    connect,
    inbound_body,
    inbox,
    post_webhook,
    run_jobs,
    status_body,
    thread,
)
from tests.helpers import assert_problem
from tests.llm.vendor_server import API_KEY, RunningVendor, serve_vendor


@pytest.fixture
def graph() -> Iterator[RunningGraph]:
    yield from serve_graph()


@pytest.fixture
def vendor() -> Iterator[RunningVendor]:
    yield from serve_vendor()


@pytest.fixture
def settings_overrides(graph: RunningGraph) -> dict[str, Any]:
    # The fake LLM vendor is on loopback: reachable because the operator setting allows it.
    return {
        "whatsapp_graph_url": graph.url,
        "whatsapp_graph_version": "v21.0",
        "outbound_allow": ["127.0.0.1"],
    }


async def only_conversation(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    items = (await inbox(client, tenant.owner))["items"]
    assert len(items) == 1, items
    conversation: dict[str, Any] = items[0]
    return conversation


class TestHandshake:
    async def test_known_verify_token_echoes_the_challenge(self, client: httpx.AsyncClient) -> None:
        tenant = await connect(client)
        response = await client.get(
            WEBHOOK,
            params={
                "hub.mode": "subscribe",
                "hub.verify_token": f"{VERIFY_TOKEN}-{tenant.phone_number_id}",
                "hub.challenge": "1158201444",
            },
        )
        assert response.status_code == 200
        assert response.text == "1158201444"
        assert response.headers["content-type"].startswith("text/plain")

    @pytest.mark.parametrize(
        "params",
        [
            {"hub.mode": "subscribe", "hub.verify_token": "wrong-token-123", "hub.challenge": "1"},
            {"hub.mode": "unsubscribe", "hub.verify_token": "{token}", "hub.challenge": "1"},
            {"hub.mode": "subscribe", "hub.verify_token": "{token}", "hub.challenge": "<b>x</b>"},
            {"hub.mode": "subscribe", "hub.verify_token": "{token}"},
        ],
    )
    async def test_anything_else_is_refused(
        self, client: httpx.AsyncClient, params: dict[str, str]
    ) -> None:
        tenant = await connect(client)
        token = f"{VERIFY_TOKEN}-{tenant.phone_number_id}"
        query = {key: value.replace("{token}", token) for key, value in params.items()}
        assert_problem(await client.get(WEBHOOK, params=query), 403, "forbidden")


class TestSignature:
    @pytest.mark.parametrize(
        ("secret", "signature"),
        [
            ("not-the-app-secret", None),
            ("", "sha256=" + "0" * 64),
            ("", ""),
            ("", "md5=abc"),
        ],
    )
    async def test_bad_signatures_write_nothing(
        self, client: httpx.AsyncClient, app: Any, secret: str, signature: str | None
    ) -> None:
        tenant = await connect(client)
        response = await post_webhook(
            client, inbound_body(tenant.phone_number_id), secret=secret, signature=signature
        )
        assert_problem(response, 401, "unauthorized")
        assert (await inbox(client, tenant.owner))["total"] == 0
        contacts = (await client.get("/api/contacts", headers=tenant.owner.headers)).json()
        assert contacts["total"] == 0
        assert await run_jobs(app) == 0

    async def test_a_number_nobody_connected_is_refused(self, client: httpx.AsyncClient) -> None:
        tenant = await connect(client)
        response = await post_webhook(client, inbound_body("999999999"))
        assert_problem(response, 401)
        assert (await inbox(client, tenant.owner))["total"] == 0

    async def test_one_unverifiable_number_refuses_the_whole_body(
        self, client: httpx.AsyncClient
    ) -> None:
        mine = await connect(client, workspace="Mine")
        other = await connect(client, workspace="Other", app_secret="another-app-secret")
        body = inbound_body(mine.phone_number_id)
        body["entry"] += inbound_body(other.phone_number_id)["entry"]
        assert_problem(await post_webhook(client, body), 401)
        assert (await inbox(client, mine.owner))["total"] == 0

    async def test_not_json_is_rejected(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            WEBHOOK, content=b"\xff not json", headers={"X-Hub-Signature-256": "sha256=00"}
        )
        assert_problem(response, 422)

    async def test_bodies_for_no_number_are_acknowledged(self, client: httpx.AsyncClient) -> None:
        body = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": []}]}
        response = await post_webhook(client, body, signature="")
        assert response.status_code == 200
        assert response.json() == {"received": 0, "duplicates": 0, "statuses": 0}


class TestRouting:
    async def test_each_number_routes_to_its_own_workspace(self, client: httpx.AsyncClient) -> None:
        alpha = await connect(client, workspace="Alpha")
        beta = await connect(client, workspace="Beta")
        response = await post_webhook(client, inbound_body(alpha.phone_number_id, text="Hi A"))
        assert response.json() == {"received": 1, "duplicates": 0, "statuses": 0}
        conversation = await only_conversation(client, alpha)
        assert conversation["channel"] == "whatsapp"
        assert conversation["contact"]["phone"] == "+5511987654321"
        assert conversation["contact"]["name"] == "Maria"
        assert conversation["last_message_text"] == "Hi A"
        assert conversation["agent_id"] == alpha.agent_id
        assert (await inbox(client, beta.owner))["total"] == 0

        await post_webhook(client, inbound_body(beta.phone_number_id, text="Hi B"))
        assert (await only_conversation(client, beta))["last_message_text"] == "Hi B"
        assert (await only_conversation(client, alpha))["last_message_text"] == "Hi A"


class TestAgentReplies:
    async def test_inbound_message_is_answered_through_the_graph_api_with_history(
        self,
        client: httpx.AsyncClient,
        app: Any,
        graph: RunningGraph,
        vendor: RunningVendor,
    ) -> None:
        tenant = await connect(client)
        await client.post(
            "/api/llm/keys",
            headers=tenant.owner.headers,
            json={
                "provider": "openai_compatible",
                "label": "main",
                "api_key": API_KEY,
                "base_url": vendor.url,
                "default_model": "gpt-4o-mini",
            },
        )
        await post_webhook(client, inbound_body(tenant.phone_number_id, text="Do you ship?"))
        assert await run_jobs(app) == 2  # the reply, then its delivery
        [sent] = graph.state.bodies("text")
        assert sent["to"] == "5511987654321"
        assert sent["text"]["body"] == "openai says: Do you ship?"
        assert sent["recipient_type"] == "individual"
        assert graph.state.sent[0][:2] == ("v21.0", tenant.phone_number_id)

        await post_webhook(client, inbound_body(tenant.phone_number_id, text="To Lisbon?"))
        await run_jobs(app)
        chat = vendor.state.requests[-1][1]["messages"]
        assert [(m["role"], m["content"]) for m in chat] == [
            ("system", f"Support\n\nBe brief.\n\n{handover.AGENT_INSTRUCTION}"),
            ("user", "Do you ship?"),
            ("assistant", "openai says: Do you ship?"),
            ("user", "To Lisbon?"),
        ]
        conversation = await only_conversation(client, tenant)
        messages = await thread(client, tenant.owner, conversation["id"])
        assert [(m["direction"], m["author"], m["status"]) for m in messages] == [
            ("in", "contact", "received"),
            ("out", "agent", "sent"),
            ("in", "contact", "received"),
            ("out", "agent", "sent"),
        ]
        assert messages[1]["channel_message_id"].startswith("wamid.OUT")

    async def test_a_burst_is_answered_once_with_everything(
        self, client: httpx.AsyncClient, app: Any, graph: RunningGraph
    ) -> None:
        tenant = await connect(client)
        await post_webhook(client, inbound_body(tenant.phone_number_id, text="one"))
        await post_webhook(client, inbound_body(tenant.phone_number_id, text="two"))
        await run_jobs(app)
        [sent] = graph.state.bodies("text")
        assert "You said: one\ntwo" in sent["text"]["body"]  # offline provider, merged turns

    async def test_duplicate_deliveries_are_processed_once(
        self, client: httpx.AsyncClient, app: Any, graph: RunningGraph
    ) -> None:
        tenant = await connect(client)
        body = inbound_body(tenant.phone_number_id, wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgA=")
        first = await post_webhook(client, body)
        again = await post_webhook(client, body)
        assert first.json()["received"] == 1
        assert again.json() == {"received": 0, "duplicates": 1, "statuses": 0}
        await run_jobs(app)
        assert await post_webhook(client, body)  # even after the reply went out
        await run_jobs(app)
        conversation = await only_conversation(client, tenant)
        messages = await thread(client, tenant.owner, conversation["id"])
        assert [m["direction"] for m in messages] == ["in", "out"]
        assert len(graph.state.sent) == 1

    async def test_escalation_stops_auto_replies_until_handed_back(
        self, client: httpx.AsyncClient, app: Any, graph: RunningGraph
    ) -> None:
        tenant = await connect(client)
        headers = tenant.owner.headers
        await post_webhook(client, inbound_body(tenant.phone_number_id, text="Where is my order?"))
        conversation = await only_conversation(client, tenant)
        escalated = await client.post(
            f"/api/conversations/{conversation['id']}/escalate", headers=headers
        )
        assert escalated.json()["state"] == "escalated"
        await post_webhook(client, inbound_body(tenant.phone_number_id, text="Hello?"))
        await run_jobs(app)  # both queued replies find the conversation escalated
        assert graph.state.sent == []
        assert (await inbox(client, tenant.owner, state="escalated"))["total"] == 1
        assert (await inbox(client, tenant.owner, state="open"))["total"] == 0

        back = await client.post(
            f"/api/conversations/{conversation['id']}/hand-back", headers=headers
        )
        assert back.json()["state"] == "open"
        await post_webhook(client, inbound_body(tenant.phone_number_id, text="Still there?"))
        await run_jobs(app)
        assert len(graph.state.sent) == 1

    async def test_no_active_agent_leaves_the_message_for_a_person(
        self, client: httpx.AsyncClient, app: Any, graph: RunningGraph
    ) -> None:
        tenant = await connect(client)
        await client.put(
            f"/api/agents/{tenant.agent_id}/status",
            json={"status": "paused"},
            headers=tenant.owner.headers,
        )
        await post_webhook(client, inbound_body(tenant.phone_number_id))
        await run_jobs(app)
        # Escalated by default (escalate_on_agent_failure): the contact is told, politely.
        [(_, _, told)] = graph.state.sent
        assert told["text"]["body"] == handover.HANDOVER_MESSAGES[handover.Language.en]
        conversation = await only_conversation(client, tenant)
        assert conversation["state"] == "escalated"
        assert conversation["attention_reason"] == "No active agent answers here"

    async def test_without_escalation_a_failed_agent_only_marks_the_conversation(
        self, client: httpx.AsyncClient, app: Any, graph: RunningGraph
    ) -> None:
        tenant = await connect(client)
        headers = tenant.owner.headers
        changed = await client.patch(
            "/api/conversations/settings",
            json={"escalate_on_agent_failure": False},
            headers=headers,
        )
        assert changed.json()["escalate_on_agent_failure"] is False
        await client.put(
            f"/api/agents/{tenant.agent_id}/status", json={"status": "paused"}, headers=headers
        )
        await post_webhook(client, inbound_body(tenant.phone_number_id))
        await run_jobs(app)
        assert graph.state.sent == []
        conversation = await only_conversation(client, tenant)
        assert conversation["state"] == "open"
        assert conversation["attention_reason"] == "No active agent answers here"
        marked = await inbox(client, tenant.owner, view="attention")
        assert [item["id"] for item in marked["items"]] == [conversation["id"]]

    @pytest.mark.parametrize(
        ("text", "language"),
        [("Can I talk to a human?", "en"), ("quero falar com um atendente", "pt")],
    )
    async def test_a_contact_asking_for_a_person_is_handed_over_politely(
        self, client: httpx.AsyncClient, app: Any, graph: RunningGraph, text: str, language: str
    ) -> None:
        tenant = await connect(client)
        await post_webhook(client, inbound_body(tenant.phone_number_id, text=text))
        assert await run_jobs(app) == 1  # the notice's delivery; no agent reply was queued
        [(_, _, told)] = graph.state.sent
        assert told["text"]["body"] == handover.HANDOVER_MESSAGES[handover.Language(language)]
        conversation = await only_conversation(client, tenant)
        assert conversation["state"] == "escalated"
        assert conversation["attention_reason"] == "The contact asked for a person"
        # A later message waits for the person: no agent reply, no second notice.
        await post_webhook(client, inbound_body(tenant.phone_number_id, text="hello?"))
        await run_jobs(app)
        assert len(graph.state.sent) == 1

    async def test_asking_for_a_person_can_be_turned_off(
        self, client: httpx.AsyncClient, app: Any, graph: RunningGraph
    ) -> None:
        tenant = await connect(client)
        await client.patch(
            "/api/conversations/settings",
            json={"hand_over_on_request": False},
            headers=tenant.owner.headers,
        )
        await post_webhook(client, inbound_body(tenant.phone_number_id, text="human please"))
        await run_jobs(app)
        conversation = await only_conversation(client, tenant)
        assert conversation["state"] == "open"
        assert conversation["attention_reason"] is None
        [(_, _, reply)] = graph.state.sent
        assert "You said: human please" in reply["text"]["body"]  # the agent answered

    async def test_the_workspace_default_agent_answers_unassigned_conversations(
        self, client: httpx.AsyncClient, app: Any, graph: RunningGraph
    ) -> None:
        tenant = await connect(client)
        headers = tenant.owner.headers
        await post_webhook(client, inbound_body(tenant.phone_number_id))
        conversation = await only_conversation(client, tenant)
        cleared = await client.put(
            f"/api/conversations/{conversation['id']}/agent",
            json={"agent_id": None},
            headers=headers,
        )
        assert cleared.json()["agent_id"] is None
        other = await client.post(
            "/api/agents", json={"name": "Bruno", "role": "Sales"}, headers=headers
        )
        settings = await client.patch(
            "/api/conversations/settings",
            json={"default_agent_id": other.json()["id"]},
            headers=headers,
        )
        assert settings.json()["default_agent_id"] == other.json()["id"]
        await run_jobs(app)
        assert len(graph.state.sent) == 1

    async def test_closed_conversation_restarts_on_the_next_message(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        tenant = await connect(client)
        await post_webhook(client, inbound_body(tenant.phone_number_id))
        first = await only_conversation(client, tenant)
        closed = await client.post(
            f"/api/conversations/{first['id']}/close", headers=tenant.owner.headers
        )
        assert closed.json()["state"] == "closed"
        again = await client.post(
            f"/api/conversations/{first['id']}/close", headers=tenant.owner.headers
        )
        assert again.status_code == 200
        reply = await client.post(
            f"/api/conversations/{first['id']}/messages",
            json={"text": "late"},
            headers=tenant.owner.headers,
        )
        assert_problem(reply, 409, "conflict")
        await run_jobs(app)  # the queued reply finds it closed
        await post_webhook(client, inbound_body(tenant.phone_number_id, text="back again"))
        everything = (await inbox(client, tenant.owner))["items"]
        assert [c["state"] for c in everything] == ["open", "closed"]
        assert everything[0]["contact"]["id"] == first["contact"]["id"]


class TestHumanReplyAndStatuses:
    async def test_a_person_replies_through_the_channel_and_receipts_update_it(
        self, client: httpx.AsyncClient, app: Any, graph: RunningGraph
    ) -> None:
        tenant = await connect(client)
        headers = tenant.owner.headers
        await post_webhook(client, inbound_body(tenant.phone_number_id))
        conversation = await only_conversation(client, tenant)
        await client.post(f"/api/conversations/{conversation['id']}/escalate", headers=headers)
        queued = await client.post(
            f"/api/conversations/{conversation['id']}/messages",
            json={"text": "Hi Maria, Olivia here."},
            headers=headers,
        )
        assert queued.status_code == 202, queued.text
        assert (queued.json()["author"], queued.json()["status"]) == ("human", "pending")
        await run_jobs(app)
        [sent] = graph.state.bodies("text")
        assert sent["text"]["body"] == "Hi Maria, Olivia here."
        reply = (await thread(client, tenant.owner, conversation["id"]))[-1]
        assert reply["author_user_id"] is not None
        wamid = reply["channel_message_id"]

        for status, expected in [
            ("read", "read"),
            ("delivered", "read"),  # late receipt: never moves back
            ("sent", "read"),
        ]:
            await post_webhook(client, status_body(tenant.phone_number_id, wamid, status))
            assert (await thread(client, tenant.owner, conversation["id"]))[-1][
                "status"
            ] == expected
        failed = await post_webhook(
            client,
            status_body(
                tenant.phone_number_id,
                wamid,
                "failed",
                errors=[{"code": 131026, "title": "Message undeliverable"}],
            ),
        )
        assert failed.json()["statuses"] == 1
        last = (await thread(client, tenant.owner, conversation["id"]))[-1]
        assert (last["status"], last["error"]) == ("failed", "131026 Message undeliverable")
        unknown = await post_webhook(
            client, status_body(tenant.phone_number_id, "wamid.unknown", "read")
        )
        assert unknown.json()["statuses"] == 0

    async def test_delivery_statuses_in_order(self, client: httpx.AsyncClient, app: Any) -> None:
        tenant = await connect(client)
        await post_webhook(client, inbound_body(tenant.phone_number_id))
        await run_jobs(app)
        conversation = await only_conversation(client, tenant)
        reply = (await thread(client, tenant.owner, conversation["id"]))[-1]
        for status in ("delivered", "read"):
            body = status_body(tenant.phone_number_id, reply["channel_message_id"], status)
            assert (await post_webhook(client, body)).json()["statuses"] == 1
        # A status the product does not track is skipped, not written into the typed column.
        body = status_body(tenant.phone_number_id, reply["channel_message_id"], "deleted")
        assert (await post_webhook(client, body)).json()["statuses"] == 0
        last = (await thread(client, tenant.owner, conversation["id"]))[-1]
        assert last["status"] == "read"

    async def test_graph_api_refusal_fails_the_message(
        self, client: httpx.AsyncClient, app: Any, graph: RunningGraph
    ) -> None:
        tenant = await connect(client)
        graph.state.mode = "error400"
        await post_webhook(client, inbound_body(tenant.phone_number_id))
        await run_jobs(app)
        conversation = await only_conversation(client, tenant)
        reply = (await thread(client, tenant.owner, conversation["id"]))[-1]
        assert reply["status"] == "failed"
        assert "131047" in reply["error"]

    async def test_graph_api_outage_retries_later(
        self, client: httpx.AsyncClient, app: Any, graph: RunningGraph
    ) -> None:
        tenant = await connect(client)
        graph.state.mode = "error500"
        await post_webhook(client, inbound_body(tenant.phone_number_id))
        await run_jobs(app)  # the delivery failed once and waits for its backoff
        conversation = await only_conversation(client, tenant)
        reply = (await thread(client, tenant.owner, conversation["id"]))[-1]
        assert reply["status"] == "pending"
