from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import Account, assert_problem, invite_and_join, me, register, unique_email


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


ADMIN_KEY_SCOPES = ["members:read", "members:write", "api_keys:write", "data:export"]


async def _member_id(client: httpx.AsyncClient, account: Account) -> str:
    return str((await me(client, account.headers))["id"])


async def _key_attacks(client: httpx.AsyncClient, secret: str, creator_id: str) -> list[int]:
    """What a leaked or left-behind key tries: invite an admin, reactivate and re-promote its
    creator, export everything, mint a new key. The status of each attempt."""
    headers = key_headers(secret)
    members = f"/api/workspace/members/{creator_id}"
    attempts = [
        client.post(
            "/api/workspace/invitations",
            json={"email": unique_email("intruder"), "role": "admin"},
            headers=headers,
        ),
        client.post(f"{members}/reactivate", headers=headers),
        client.put(f"{members}/role", json={"role": "admin"}, headers=headers),
        client.get("/api/data/export", headers=headers),
        client.post(
            "/api/api-keys", json={"name": "again", "scopes": ["members:read"]}, headers=headers
        ),
    ]
    return [(await attempt).status_code for attempt in attempts]


class TestKeyActsForItsCreator:
    """A key is bounded by its creator's current role and dies with their membership."""

    async def test_admin_key_works_while_its_creator_is_an_admin(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await register(client)
        admin = await invite_and_join(client, owner, role="admin")
        created = await create_key(client, admin, ADMIN_KEY_SCOPES)
        profile = await me(client, key_headers(created["key"]))
        assert profile["role"] == "admin"
        invited = await client.post(
            "/api/workspace/invitations",
            json={"email": unique_email("helper"), "role": "admin"},
            headers=key_headers(created["key"]),
        )
        assert invited.status_code == 201, invited.text

    async def test_demoted_creator_demotes_the_key(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        admin = await invite_and_join(client, owner, role="admin")
        admin_id = await _member_id(client, admin)
        created = await create_key(client, admin, ADMIN_KEY_SCOPES)
        demoted = await client.put(
            f"/api/workspace/members/{admin_id}/role",
            json={"role": "member"},
            headers=owner.headers,
        )
        assert demoted.status_code == 200, demoted.text
        assert (await me(client, key_headers(created["key"])))["role"] == "member"
        assert await _key_attacks(client, created["key"], admin_id) == [403] * 5

    async def test_deactivated_creator_stops_the_key(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        admin = await invite_and_join(client, owner, role="admin")
        admin_id = await _member_id(client, admin)
        created = await create_key(client, admin, ADMIN_KEY_SCOPES)
        for step in ("role", "deactivate"):
            url = f"/api/workspace/members/{admin_id}/{step}"
            body = {"role": "member"} if step == "role" else None
            changed = await (
                client.put(url, json=body, headers=owner.headers)
                if body
                else client.post(url, headers=owner.headers)
            )
            assert changed.status_code == 200, changed.text
        assert await _key_attacks(client, created["key"], admin_id) == [401] * 5
        profile = await client.get(f"/api/workspace/members/{admin_id}", headers=owner.headers)
        assert profile.json()["role"] == "member"
        assert profile.json()["active"] is False

    async def test_reactivated_creator_revives_the_key(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        admin = await invite_and_join(client, owner, role="admin")
        admin_id = await _member_id(client, admin)
        created = await create_key(client, admin, ["workspace:read"])
        members = f"/api/workspace/members/{admin_id}"
        await client.post(f"{members}/deactivate", headers=owner.headers)
        assert_problem(await client.get("/api/workspace", headers=key_headers(created["key"])), 401)
        await client.post(f"{members}/reactivate", headers=owner.headers)
        assert (await client.get("/api/workspace", headers=key_headers(created["key"]))).is_success

    async def test_key_of_a_deleted_creator_stops(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        from sqlalchemy import update

        from intuitivus_flow.apikeys.models import ApiKey

        owner = await register(client)
        created = await create_key(client, owner, ["workspace:read"])
        async with app.state.context.sessions() as session:
            # What ON DELETE SET NULL leaves behind when the creator's row goes.
            await session.execute(update(ApiKey).values(created_by_id=None))
            await session.commit()
        assert_problem(await client.get("/api/workspace", headers=key_headers(created["key"])), 401)

    async def test_owner_key_cannot_act_as_owner(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        admin = await invite_and_join(client, owner, role="admin")
        created = await create_key(client, owner, ["members:write"])
        assert (await me(client, key_headers(created["key"])))["role"] == "admin"
        promoted = await client.put(
            f"/api/workspace/members/{await _member_id(client, admin)}/role",
            json={"role": "owner"},
            headers=key_headers(created["key"]),
        )
        assert_problem(promoted, 403)

    async def test_key_minted_by_a_key_belongs_to_the_same_member(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await register(client)
        admin = await invite_and_join(client, owner, role="admin")
        parent = await create_key(client, admin, ["api_keys:write", "workspace:read"])
        child = await client.post(
            "/api/api-keys",
            json={"name": "child", "scopes": ["workspace:read"]},
            headers=key_headers(parent["key"]),
        )
        assert child.status_code == 201, child.text
        child_headers = key_headers(child.json()["key"])
        assert (await client.get("/api/workspace", headers=child_headers)).is_success
        await client.post(
            f"/api/workspace/members/{await _member_id(client, admin)}/deactivate",
            headers=owner.headers,
        )
        assert_problem(await client.get("/api/workspace", headers=child_headers), 401)
