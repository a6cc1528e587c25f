from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import assert_problem, invite_and_join, register


async def events_named(client: httpx.AsyncClient, headers: dict[str, str], name: str) -> list[Any]:
    response = await client.get("/api/events", params={"name": name}, headers=headers)
    assert response.status_code == 200
    items: list[Any] = response.json()["items"]
    return items


class TestServerEvents:
    async def test_signup_login_invite_and_key_are_recorded(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await register(client)
        await client.post(
            "/api/auth/login", json={"email": owner.email, "password": "correct horse battery"}
        )
        await invite_and_join(client, owner)
        await client.post(
            "/api/api-keys", json={"name": "k", "scopes": ["events:read"]}, headers=owner.headers
        )
        for name in (
            "workspace.created",
            "user.signed_up",
            "user.logged_in",
            "member.invited",
            "member.joined",
            "api_key.created",
        ):
            found = await events_named(client, owner.headers, name)
            assert found, name
            assert all(item["source"] == "server" for item in found)

    async def test_failed_request_records_nothing(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        await client.post(
            "/api/workspace/invitations", json={"email": owner.email}, headers=owner.headers
        )  # 409: rolled back
        assert await events_named(client, owner.headers, "member.invited") == []


class TestClientBatch:
    async def test_batch_is_stored(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        response = await client.post(
            "/api/events",
            json={
                "events": [
                    {"name": "ui.page_viewed", "properties": {"path": "/settings", "ms": 120}},
                    {"name": "ui.button_clicked", "occurred_at": "2026-11-24T10:00:00+00:00"},
                ]
            },
            headers=owner.headers,
        )
        assert response.status_code == 202
        assert response.json() == {"accepted": 2}
        viewed = await events_named(client, owner.headers, "ui.page_viewed")
        assert viewed[0]["properties"] == {"path": "/settings", "ms": 120}
        assert viewed[0]["source"] == "client"

    async def test_one_bad_event_rejects_the_batch(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        response = await client.post(
            "/api/events",
            json={
                "events": [
                    {"name": "ui.fine"},
                    {"name": "Not Valid"},
                    {"name": "user.signed_up"},
                    {"name": "ui.naive", "occurred_at": "2026-11-24T10:00:00"},
                    {"name": "ui.big", "properties": {"blob": "x" * 5000}},
                ]
            },
            headers=owner.headers,
        )
        body = assert_problem(response, 422)
        assert [e["field"] for e in body["errors"]] == [
            "body.events.1.name",
            "body.events.2.name",
            "body.events.3.occurred_at",
            "body.events.4.properties",
        ]
        assert await events_named(client, owner.headers, "ui.fine") == []

    async def test_batch_size_is_limited(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        batch = {"events": [{"name": "ui.tick"}] * 101}
        assert_problem(await client.post("/api/events", json=batch, headers=owner.headers), 422)

    async def test_requires_authentication(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/api/events", json={"events": [{"name": "ui.x"}]})
        assert_problem(response, 401)

    async def test_far_off_client_clock_is_replaced(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        await client.post(
            "/api/events",
            json={
                "events": [{"name": "ui.time_travel", "occurred_at": "1999-01-01T00:00:00+00:00"}]
            },
            headers=owner.headers,
        )
        stored = await events_named(client, owner.headers, "ui.time_travel")
        assert not stored[0]["occurred_at"].startswith("1999")

    async def test_since_filter_accepts_naive_times(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        response = await client.get(
            "/api/events", params={"since": "2000-01-01T00:00:00"}, headers=owner.headers
        )
        assert response.json()["total"] >= 2


class TestCatalogue:
    def test_every_server_event_is_documented(self) -> None:
        from intuitivus_flow.events.catalog import EVENT_NAME_PATTERN, SERVER_EVENTS

        docs = (Path(__file__).parents[2] / "docs" / "events.md").read_text()
        for name in SERVER_EVENTS:
            assert EVENT_NAME_PATTERN.match(name), name
            assert f"`{name}`" in docs, f"{name} missing from docs/events.md"

    def test_unknown_server_event_is_a_programming_error(self) -> None:
        import asyncio
        import uuid

        from intuitivus_flow.events import service

        with pytest.raises(ValueError, match="unknown server event"):
            asyncio.run(service.record(None, workspace_id=uuid.uuid4(), name="made.up"))  # type: ignore[arg-type]
