from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import Account, assert_problem, invite_and_join, register


async def create_key(
    client: httpx.AsyncClient, owner: Account, scopes: list[str], **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/api-keys", json={"name": "ci", "scopes": scopes, **extra}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def key_headers(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


class TestCreate:
    async def test_secret_shown_once_and_works(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        created = await create_key(client, owner, ["workspace:read"])
        assert created["key"].startswith("ifk_" + created["prefix"] + "_")
        profile = await client.get("/api/auth/me", headers=key_headers(created["key"]))
        assert profile.json()["via"] == "api_key"
        listing = (await client.get("/api/api-keys", headers=owner.headers)).json()
        assert "key" not in listing["items"][0]
        assert created["key"] not in str(listing)

    async def test_x_api_key_header_works(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        created = await create_key(client, owner, ["workspace:read"])
        response = await client.get("/api/workspace", headers={"X-API-Key": created["key"]})
        assert response.status_code == 200

    async def test_stored_hashed(self, client: httpx.AsyncClient, app: Any) -> None:
        from sqlalchemy import select

        from intuitivus_flow.apikeys.models import ApiKey

        owner = await register(client)
        created = await create_key(client, owner, ["workspace:read"])
        async with app.state.context.sessions() as session:
            row = await session.scalar(select(ApiKey))
        assert row is not None
        assert created["key"] not in (row.key_hash, row.prefix)
        assert len(row.key_hash) == 64

    async def test_members_cannot_create(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        member = await invite_and_join(client, owner)
        response = await client.post(
            "/api/api-keys",
            json={"name": "x", "scopes": ["events:write"]},
            headers=member.headers,
        )
        assert_problem(response, 403)

    async def test_unknown_scope_is_rejected(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        response = await client.post(
            "/api/api-keys", json={"name": "x", "scopes": ["root"]}, headers=owner.headers
        )
        assert assert_problem(response, 422)["errors"][0]["field"].startswith("body.scopes")


class TestScopes:
    async def test_key_is_limited_to_its_scopes(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        created = await create_key(client, owner, ["events:write"])
        headers = key_headers(created["key"])
        sent = await client.post(
            "/api/events", json={"events": [{"name": "ui.clicked"}]}, headers=headers
        )
        assert sent.status_code == 202
        assert_problem(await client.get("/api/events", headers=headers), 403)
        assert_problem(await client.get("/api/workspace/members", headers=headers), 403)

    async def test_key_cannot_change_passwords(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        created = await create_key(client, owner, ["workspace:read"])
        response = await client.post(
            "/api/auth/password",
            json={"current_password": "x", "new_password": "yyyyyyyyyyyy"},
            headers=key_headers(created["key"]),
        )
        assert_problem(response, 403)


class TestLifecycle:
    async def test_revoked_key_stops_working(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        created = await create_key(client, owner, ["workspace:read"])
        revoked = await client.delete(f"/api/api-keys/{created['id']}", headers=owner.headers)
        assert revoked.json()["revoked_at"] is not None
        assert_problem(await client.get("/api/workspace", headers=key_headers(created["key"])), 401)

    async def test_last_used_is_recorded(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        created = await create_key(client, owner, ["workspace:read"])
        assert created["last_used_at"] is None
        await client.get("/api/workspace", headers=key_headers(created["key"]))
        listing = (await client.get("/api/api-keys", headers=owner.headers)).json()
        assert listing["items"][0]["last_used_at"] is not None

    async def test_expired_key_is_rejected(self, client: httpx.AsyncClient, app: Any) -> None:
        from datetime import timedelta

        from sqlalchemy import update

        from intuitivus_flow.apikeys.models import ApiKey
        from intuitivus_flow.kit.models import utcnow

        owner = await register(client)
        created = await create_key(client, owner, ["workspace:read"], expires_in_days=1)
        async with app.state.context.sessions() as session:
            await session.execute(update(ApiKey).values(expires_at=utcnow() - timedelta(seconds=1)))
            await session.commit()
        assert_problem(await client.get("/api/workspace", headers=key_headers(created["key"])), 401)

    async def test_tampered_secret_is_rejected(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        created = await create_key(client, owner, ["workspace:read"])
        tampered = created["key"][:-2] + ("aa" if not created["key"].endswith("aa") else "bb")
        assert_problem(await client.get("/api/workspace", headers=key_headers(tampered)), 401)
