"""The collection API end to end on SQLite and PostgreSQL: write keys, Segment calls with
their limits and errors, identity merging, CORS, then the copy into the analytics store
(exactly once) and a funnel over the API."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from intuitivus_flow.analytics.copy import PLATFORM_WORKSPACE_ID, copy_to_store
from intuitivus_flow.analytics.store import AnalyticsStore, open_store
from tests.helpers import Account, assert_problem, register


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


async def write_key(client: httpx.AsyncClient, owner: Account, **body: Any) -> str:
    response = await client.post(
        "/api/analytics/write-keys", json={"name": "site"} | body, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


def store_of(app: Any) -> AnalyticsStore:
    return open_store(app.state.context.settings.resolved_analytics_url)


async def copy(app: Any) -> dict[str, Any]:
    report = await copy_to_store(app.state.context.sessions, store_of(app), batch_size=100)
    return report.as_dict()


async def workspace_of(client: httpx.AsyncClient, owner: Account) -> uuid.UUID:
    response = await client.get("/api/auth/me", headers=owner.headers)
    return uuid.UUID(response.json()["workspace"]["id"])


class TestWriteKeys:
    async def test_create_list_revoke(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        key = await write_key(client, owner)
        assert key.startswith("wk_")
        listed = (await client.get("/api/analytics/write-keys", headers=owner.headers)).json()
        assert [k["prefix"] for k in listed["items"]] == [key[:10]]
        assert key not in str(listed)
        track = {"userId": "u1", "event": "signup"}
        ok = await client.post("/api/analytics/track", json=track, headers=basic(key))
        assert ok.json() == {"success": True, "accepted": 1, "duplicates": 0}
        key_id = listed["items"][0]["id"]
        revoked = await client.delete(f"/api/analytics/write-keys/{key_id}", headers=owner.headers)
        assert revoked.json()["revoked_at"] is not None
        refused = await client.post("/api/analytics/track", json=track, headers=basic(key))
        assert_problem(refused, 401)

    async def test_unknown_or_missing_key(self, client: httpx.AsyncClient) -> None:
        track = {"userId": "u1", "event": "signup"}
        assert_problem(await client.post("/api/analytics/track", json=track), 401)
        unknown = await client.post("/api/analytics/track", json=track, headers=basic("wk_nope"))
        assert_problem(unknown, 401)
        assert unknown.headers["WWW-Authenticate"].startswith("Basic")


class TestCalls:
    async def test_message_id_deduplicates(self, client: httpx.AsyncClient) -> None:
        key = await write_key(client, await register(client))
        call = {"anonymousId": "a1", "event": "page", "messageId": "m-1"}
        first = await client.post("/api/analytics/track", json=call, headers=basic(key))
        again = await client.post(
            "/api/analytics/batch",
            json={
                "batch": [call | {"type": "track"}, call | {"type": "track", "messageId": "m-2"}]
            },
            headers=basic(key),
        )
        assert first.json()["accepted"] == 1
        assert again.json() == {"success": True, "accepted": 1, "duplicates": 1}

    async def test_a_bad_message_stores_nothing(self, client: httpx.AsyncClient, app: Any) -> None:
        owner = await register(client)
        key = await write_key(client, owner)
        batch = {
            "batch": [
                {"type": "track", "userId": "u", "event": "ok", "messageId": "b-1"},
                {"type": "track", "userId": "u", "event": "x", "timestamp": "2026-01-01T10:00:00"},
                {"type": "track", "event": "no-id"},
                {"type": "alias", "userId": "u"},
            ]
        }
        response = await client.post("/api/analytics/batch", json=batch, headers=basic(key))
        body = assert_problem(response, 422)
        fields = [e["field"] for e in body["errors"]]
        assert fields == ["body.batch.1.timestamp", "body.batch.2.userId", "body.batch.3.type"]
        assert "UTC offset" in body["errors"][0]["msg"]
        retry = await client.post(
            "/api/analytics/track", json=batch["batch"][0], headers=basic(key)
        )
        assert retry.json()["accepted"] == 1  # b-1 was not stored by the refused batch

    async def test_size_limits(self, client: httpx.AsyncClient) -> None:
        key = await write_key(client, await register(client))
        big = {"userId": "u", "event": "e", "properties": {"blob": "x" * 40_000}}
        assert_problem(await client.post("/api/analytics/track", json=big, headers=basic(key)), 413)
        many = {"batch": [{"type": "track", "userId": "u", "event": "e"}] * 2501}
        assert_problem(
            await client.post("/api/analytics/batch", json=many, headers=basic(key)), 413
        )

    async def test_cors_for_allowed_origins_only(self, client: httpx.AsyncClient) -> None:
        key = await write_key(
            client, await register(client), allowed_origins=["https://shop.example"]
        )
        preflight = await client.options(
            "/api/analytics/track",
            headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
        )
        assert preflight.status_code == 204
        assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
        call = {"userId": "u", "event": "e"}
        allowed = await client.post(
            "/api/analytics/track",
            json=call,
            headers=basic(key) | {"Origin": "https://shop.example"},
        )
        assert allowed.headers["Access-Control-Allow-Origin"] == "https://shop.example"
        other = await client.post(
            "/api/analytics/track",
            json=call,
            headers=basic(key) | {"Origin": "https://evil.example"},
        )
        assert_problem(other, 403)


class TestIntoTheStore:
    async def test_identify_timestamps_copy_once_and_funnel(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        workspace = await workspace_of(client, owner)
        contact = await client.post(
            "/api/contacts", json={"name": "Ana", "email": "ana@example.com"}, headers=owner.headers
        )
        contact_id = contact.json()["id"]
        key = await write_key(client, owner)
        past = (datetime.now(UTC) - timedelta(days=3)).isoformat()
        future = (datetime.now(UTC) + timedelta(days=3)).isoformat()
        calls = [
            {"type": "track", "anonymousId": "anon-1", "event": "viewed", "timestamp": past},
            {"type": "identify", "anonymousId": "anon-1", "traits": {"email": "ANA@example.com"}},
            {"type": "track", "anonymousId": "anon-1", "event": "bought", "timestamp": future},
        ]
        response = await client.post(
            "/api/analytics/batch", json={"batch": calls}, headers=basic(key)
        )
        assert response.json()["accepted"] == 3

        first = await copy(app)
        assert first["copied"]["collect"] >= 3
        assert first["copied"]["product"] >= 2  # the signup etc., in the workspace and platform
        second = await copy(app)
        assert second["copied"] == {"product": 0, "collect": 0}
        backfill = await copy_to_store(
            app.state.context.sessions,
            store_of(app),
            batch_size=2,
            since=datetime(2000, 1, 1, tzinfo=UTC),
        )
        assert backfill.copied == {"product": 0, "collect": 0}  # everything was there already
        assert backfill.skipped["collect"] >= 3

        store = store_of(app)
        rows = store.query(
            workspace,
            "SELECT person_id, event, timestamp, source FROM {events} "
            "WHERE source = 'collect' ORDER BY timestamp",
        ).rows
        assert {row[0] for row in rows} == {contact_id}  # the anonymous track merged too
        # identify and the clamped future track both carry the receipt time
        assert rows[0][1] == "viewed"
        assert sorted(row[1] for row in rows[1:]) == ["$identify", "bought"]
        assert rows[0][2] < datetime.now(UTC) - timedelta(days=2)  # historical kept
        assert max(row[2] for row in rows) <= datetime.now(UTC)  # future clamped
        platform = store.query(
            PLATFORM_WORKSPACE_ID,
            "SELECT count(*) FROM {events} WHERE person_id = {w} AND event = 'user.signed_up'",
            w=str(workspace),
        ).rows
        assert platform[0][0] == 1

        funnel = await client.post(
            "/api/analytics/funnels",
            json={"steps": [{"event": "viewed"}, {"event": "bought"}], "window_seconds": 864000},
            headers=owner.headers,
        )
        assert funnel.status_code == 200, funnel.text
        assert [s["count"] for s in funnel.json()["steps"]] == [1, 1]

    async def test_funnel_input_errors(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        one = await client.post(
            "/api/analytics/funnels", json={"steps": [{"event": "a"}]}, headers=owner.headers
        )
        assert_problem(one, 422)
        thirty = await client.post(
            "/api/analytics/funnels", json={"steps": [{"event": "a"}] * 30}, headers=owner.headers
        )
        assert "2 to 20 steps" in thirty.text


@pytest.fixture
def settings_overrides(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    # One store per test session (the default file under the shared data dir would do too;
    # this keeps the collection tests' store apart from the others').
    return {"analytics_url": f"duckdb:///{tmp_path_factory.getbasetemp() / 'collect.duckdb'}"}
