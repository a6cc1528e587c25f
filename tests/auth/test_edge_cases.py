"""Less travelled paths of the auth services: races, expiry, stale objects."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from intuitivus_flow.auth.models import AuthSession, RefreshToken
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.users.models import User
from tests.helpers import PASSWORD, assert_problem, invite_and_join, login, me, register


async def run_sql(app: Any, statement: Any) -> None:
    async with app.state.context.sessions() as session:
        await session.execute(statement)
        await session.commit()


class TestRefreshRaces:
    async def test_concurrent_refreshes_with_one_token_cannot_both_win(
        self, client: httpx.AsyncClient
    ) -> None:
        account = await register(client)
        body = {"refresh_token": account.refresh_token}
        results = await asyncio.gather(
            *(client.post("/api/auth/refresh", json=body) for _ in range(4))
        )
        assert sum(r.status_code == 200 for r in results) <= 1
        assert all(r.status_code in (200, 401, 409) for r in results)

    async def test_expired_refresh_token(self, client: httpx.AsyncClient, app: Any) -> None:
        account = await register(client)
        await run_sql(app, update(RefreshToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        response = await client.post(
            "/api/auth/refresh", json={"refresh_token": account.refresh_token}
        )
        assert assert_problem(response, 401)["detail"] == "Refresh token expired"

    async def test_expired_session(self, client: httpx.AsyncClient, app: Any) -> None:
        account = await register(client)
        await run_sql(app, update(AuthSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        assert (
            assert_problem(await client.get("/api/auth/me", headers=account.headers), 401)["detail"]
            == "Session expired"
        )


class TestAccountEdges:
    async def test_weak_hash_is_upgraded_on_sign_in(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        from argon2 import PasswordHasher

        account = await register(client)
        weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
        await run_sql(app, update(User).values(password_hash=weak))
        await login(client, account.email)
        async with app.state.context.sessions() as session:
            stored = await session.scalar(select(User.password_hash))
        assert stored != weak
        assert stored is not None
        assert stored.startswith("$argon2id$")

    async def test_api_key_cannot_log_out(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        key = (
            await client.post(
                "/api/api-keys",
                json={"name": "k", "scopes": ["events:read"]},
                headers=owner.headers,
            )
        ).json()["key"]
        response = await client.post("/api/auth/logout", headers={"X-API-Key": key})
        assert_problem(response, 422)

    async def test_invitation_for_an_email_registered_meanwhile(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await register(client)
        email = "late@example.com"
        invited = (
            await client.post(
                "/api/workspace/invitations", json={"email": email}, headers=owner.headers
            )
        ).json()
        await register(client, email=email)
        accept = await client.post(
            "/api/auth/invitations/accept", json={"token": invited["token"], "password": PASSWORD}
        )
        assert_problem(accept, 409)

    async def test_accepted_invitation_cannot_be_revoked(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        invited = (
            await client.post(
                "/api/workspace/invitations",
                json={"email": "joiner@example.com"},
                headers=owner.headers,
            )
        ).json()
        await client.post(
            "/api/auth/invitations/accept", json={"token": invited["token"], "password": PASSWORD}
        )
        revoke = await client.delete(
            f"/api/workspace/invitations/{invited['id']}", headers=owner.headers
        )
        assert_problem(revoke, 409)

    async def test_repeating_a_state_change_is_a_no_op(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        member = await invite_and_join(client, owner)
        member_id = (await me(client, member.headers))["id"]
        same_role = await client.put(
            f"/api/workspace/members/{member_id}/role",
            json={"role": "member"},
            headers=owner.headers,
        )
        assert same_role.json()["role"] == "member"
        again = await client.post(
            f"/api/workspace/members/{member_id}/reactivate", headers=owner.headers
        )
        assert again.json()["active"] is True
        events = (
            await client.get(
                "/api/events", params={"name": "member.role_changed"}, headers=owner.headers
            )
        ).json()
        assert events["total"] == 0
