"""The public web-chat API: post, poll for the agent's reply, limits, on both engines."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conversations.support import create_agent, inbox, run_jobs
from tests.helpers import Account, assert_problem, register

VISITOR = "visitor-0001"


async def widget(client: httpx.AsyncClient) -> tuple[Account, str]:
    owner = await register(client)
    await create_agent(client, owner)
    settings = await client.get("/api/conversations/settings", headers=owner.headers)
    assert settings.status_code == 200
    return owner, str(settings.json()["widget_key"])


async def post(
    client: httpx.AsyncClient, key: str, text: str = "Hi", visitor: str = VISITOR
) -> httpx.Response:
    return await client.post(
        f"/api/webchat/{key}/messages", json={"visitor": visitor, "text": text, "name": "Vi"}
    )


async def poll(
    client: httpx.AsyncClient, key: str, visitor: str = VISITOR, after: str | None = None
) -> dict[str, Any]:
    params = {"visitor": visitor, **({"after": after} if after else {})}
    response = await client.get(f"/api/webchat/{key}/messages", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


class TestRoundTrip:
    async def test_visitor_message_gets_the_agents_reply(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner, key = await widget(client)
        sent = await post(client, key, "Opening hours?")
        assert sent.status_code == 202, sent.text
        assert (sent.json()["direction"], sent.json()["author"]) == ("in", "contact")
        assert (await poll(client, key))["messages"][0]["text"] == "Opening hours?"
        await run_jobs(app)
        newer = await poll(client, key, after=sent.json()["id"])
        [answer] = newer["messages"]
        assert newer["state"] == "open"
        assert answer["author"] == "agent"
        assert answer["text"].startswith("[offline provider")
        assert (await poll(client, key, after=answer["id"]))["messages"] == []

        conversation = (await inbox(client, owner))["items"][0]
        assert conversation["channel"] == "webchat"
        assert conversation["contact"]["name"] == "Vi"

    async def test_visitors_see_only_their_own_thread(self, client: httpx.AsyncClient) -> None:
        _, key = await widget(client)
        await post(client, key, "mine")
        assert await poll(client, key, visitor="someone-else") == {"state": None, "messages": []}

    async def test_a_closed_conversation_restarts(self, client: httpx.AsyncClient) -> None:
        owner, key = await widget(client)
        first = (await post(client, key, "first")).json()
        conversation = (await inbox(client, owner))["items"][0]
        await client.post(f"/api/conversations/{conversation['id']}/close", headers=owner.headers)
        await post(client, key, "second")
        thread = await poll(client, key, after=first["id"])  # a cursor of the old conversation
        assert [m["text"] for m in thread["messages"]] == ["second"]
        assert len((await inbox(client, owner))["items"]) == 2
        contacts = (await client.get("/api/contacts", headers=owner.headers)).json()
        assert contacts["total"] == 1  # the same visitor is the same contact


class TestLimits:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"webchat_messages_per_minute": 2}

    async def test_rate_limited_per_visitor(self, client: httpx.AsyncClient) -> None:
        _, key = await widget(client)
        assert (await post(client, key)).status_code == 202
        assert (await post(client, key)).status_code == 202
        refused = await post(client, key)
        assert_problem(refused, 429, "rate-limited")
        assert int(refused.headers["retry-after"]) >= 1
        assert (await post(client, key, visitor="visitor-0002")).status_code == 202

    async def test_rate_limited_per_address(self, client: httpx.AsyncClient) -> None:
        _, key = await widget(client)
        for number in range(20):  # 2 per visitor x 10 = the address's allowance
            assert (await post(client, key, visitor=f"visitor-{number:04d}")).status_code == 202
        assert_problem(await post(client, key, visitor="visitor-9999"), 429)

    async def test_size_and_shape_limits(self, client: httpx.AsyncClient) -> None:
        _, key = await widget(client)
        assert_problem(await post(client, key, "x" * 2001), 422)
        assert_problem(await post(client, key, visitor="bad visitor!"), 422)
        assert_problem(await post(client, key, ""), 422)

    async def test_unknown_or_disabled_widget(self, client: httpx.AsyncClient) -> None:
        owner, key = await widget(client)
        assert_problem(await post(client, "no-such-key"), 404)
        missing = await client.get("/api/webchat/nope/messages", params={"visitor": VISITOR})
        assert_problem(missing, 404)
        await client.patch(
            "/api/conversations/settings", json={"widget_enabled": False}, headers=owner.headers
        )
        assert_problem(await post(client, key), 404)
