from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import Account, assert_problem, invite_and_join, register

AGENT = {
    "name": "Closer",
    "role": "Sales assistant",
    "system_prompt": "You qualify leads politely.",
    "provider": "openai",
    "model": "gpt-4o-mini",
    "temperature": 0.3,
    "max_tokens": 400,
}


async def create(client: httpx.AsyncClient, account: Account, **extra: Any) -> dict[str, Any]:
    response = await client.post("/api/agents", json={**AGENT, **extra}, headers=account.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


class TestCrud:
    async def test_create_read_update_delete(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        agent = await create(client, owner)
        assert agent["status"] == "active"
        assert {k: agent[k] for k in AGENT} == AGENT
        fetched = await client.get(f"/api/agents/{agent['id']}", headers=owner.headers)
        assert fetched.json()["name"] == "Closer"
        changed = await client.patch(
            f"/api/agents/{agent['id']}",
            headers=owner.headers,
            json={"temperature": 1.1, "provider": None},
        )
        assert changed.json()["temperature"] == 1.1
        assert changed.json()["provider"] is None
        deleted = await client.delete(f"/api/agents/{agent['id']}", headers=owner.headers)
        assert deleted.status_code == 204
        assert_problem(await client.get(f"/api/agents/{agent['id']}", headers=owner.headers), 404)

    async def test_members_can_manage_agents(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        member = await invite_and_join(client, owner)
        await create(client, member)
        listing = await client.get("/api/agents", headers=owner.headers)
        assert listing.json()["total"] == 1

    @pytest.mark.parametrize(
        ("patch", "field"),
        [
            ({"temperature": 3}, "body.temperature"),
            ({"max_tokens": 0}, "body.max_tokens"),
            ({"provider": "skynet"}, "body.provider"),
            ({"name": ""}, "body.name"),
        ],
    )
    async def test_invalid_changes(
        self, client: httpx.AsyncClient, patch: dict[str, Any], field: str
    ) -> None:
        owner = await register(client)
        agent = await create(client, owner)
        response = await client.patch(
            f"/api/agents/{agent['id']}", json=patch, headers=owner.headers
        )
        assert assert_problem(response, 422)["errors"][0]["field"] == field

    async def test_null_for_a_required_field_is_422(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        agent = await create(client, owner)
        response = await client.patch(
            f"/api/agents/{agent['id']}", json={"name": None}, headers=owner.headers
        )
        assert_problem(response, 422)

    async def test_clone_starts_paused(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        agent = await create(client, owner)
        copy = await client.post(f"/api/agents/{agent['id']}/clone", json={}, headers=owner.headers)
        assert copy.status_code == 201
        assert copy.json()["name"] == "Closer (copy)"
        assert copy.json()["status"] == "paused"
        assert copy.json()["system_prompt"] == AGENT["system_prompt"]
        assert copy.json()["id"] != agent["id"]


class TestStatus:
    async def test_transitions(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        agent = await create(client, owner)
        url = f"/api/agents/{agent['id']}/status"
        for status in ("paused", "active", "archived", "paused"):
            response = await client.put(url, json={"status": status}, headers=owner.headers)
            assert response.json()["status"] == status
        archived = await client.put(url, json={"status": "archived"}, headers=owner.headers)
        assert archived.status_code == 200
        refused = await client.put(url, json={"status": "active"}, headers=owner.headers)
        assert_problem(refused, 422)
        only_active = await client.get(
            "/api/agents", params={"status": "active"}, headers=owner.headers
        )
        assert only_active.json()["total"] == 0

    async def test_events_are_recorded(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        agent = await create(client, owner)
        await client.put(
            f"/api/agents/{agent['id']}/status", json={"status": "paused"}, headers=owner.headers
        )
        names = {
            item["name"]
            for item in (await client.get("/api/events", headers=owner.headers)).json()["items"]
        }
        assert {"agent.created", "agent.status_changed"} <= names


class TestIsolation:
    async def test_foreign_agents_are_404_and_lists_do_not_leak(
        self, client: httpx.AsyncClient
    ) -> None:
        alpha, beta = await register(client), await register(client)
        theirs = await create(client, beta)
        for method, path, body in [
            ("GET", "", None),
            ("PATCH", "", {"name": "x"}),
            ("DELETE", "", None),
            ("POST", "/clone", {}),
            ("PUT", "/status", {"status": "paused"}),
        ]:
            response = await client.request(
                method, f"/api/agents/{theirs['id']}{path}", json=body, headers=alpha.headers
            )
            assert_problem(response, 404)
        assert (await client.get("/api/agents", headers=alpha.headers)).json()["total"] == 0
        still = await client.get(f"/api/agents/{theirs['id']}", headers=beta.headers)
        assert still.json()["name"] == "Closer"
