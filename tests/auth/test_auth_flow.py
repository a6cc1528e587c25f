from __future__ import annotations

import httpx
import pytest

from tests.helpers import PASSWORD, assert_problem, login, me, register, unique_email


class TestRegister:
    async def test_creates_workspace_and_owner(self, client: httpx.AsyncClient) -> None:
        account = await register(client, workspace="Rocket Co")
        profile = await me(client, account.headers)
        assert profile["role"] == "owner"
        assert profile["workspace"]["name"] == "Rocket Co"
        assert profile["email"] == account.email
        assert "members:write" in profile["scopes"]

    async def test_email_is_unique_ignoring_case(self, client: httpx.AsyncClient) -> None:
        email = unique_email()
        await register(client, email=email)
        response = await client.post(
            "/api/auth/register",
            json={"email": email.upper(), "password": PASSWORD, "workspace_name": "Other"},
        )
        assert_problem(response, 409, "conflict")

    async def test_short_password_lists_the_field(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/api/auth/register",
            json={"email": unique_email(), "password": "Zq9x!", "workspace_name": "W"},
        )
        body = assert_problem(response, 422, "invalid-input")
        assert [error["field"] for error in body["errors"]] == ["body.password"]
        assert "Zq9x!" not in response.text  # the input is never echoed back

    async def test_password_is_stored_as_argon2id(
        self, client: httpx.AsyncClient, app: object
    ) -> None:
        from sqlalchemy import select

        from intuitivus_flow.users.models import User

        account = await register(client)
        async with app.state.context.sessions() as session:  # type: ignore[attr-defined]
            user = await session.scalar(select(User).where(User.email == account.email))
        assert user is not None
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash


class TestLogin:
    async def test_returns_token_pair(self, client: httpx.AsyncClient) -> None:
        account = await register(client)
        signed_in = await login(client, account.email.upper())
        assert (await me(client, signed_in.headers))["email"] == account.email

    async def test_wrong_password_is_401_without_saying_which(
        self, client: httpx.AsyncClient
    ) -> None:
        account = await register(client)
        wrong = await client.post(
            "/api/auth/login", json={"email": account.email, "password": "nope nope nope"}
        )
        unknown = await client.post(
            "/api/auth/login", json={"email": unique_email(), "password": "nope nope nope"}
        )
        assert assert_problem(wrong, 401)["detail"] == assert_problem(unknown, 401)["detail"]

    async def test_refresh_token_is_not_an_access_token(self, client: httpx.AsyncClient) -> None:
        account = await register(client)
        response = await client.get(
            "/api/auth/me", headers={"Authorization": f"Bearer {account.refresh_token}"}
        )
        assert_problem(response, 401, "unauthorized")

    @pytest.mark.parametrize(
        "header",
        [
            "Bearer garbage",
            "Bearer " + "a" * 5000,
            "Basic dXNlcjpwYXNz",
            "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
            "Bearer ifk_short",
            "Bearer ifk_000000000000_guess",
        ],
    )
    async def test_bad_credentials_are_401(self, client: httpx.AsyncClient, header: str) -> None:
        response = await client.get("/api/auth/me", headers={"Authorization": header})
        assert_problem(response, 401)

    async def test_missing_credentials_are_401(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/auth/me")
        assert response.headers["www-authenticate"] == "Bearer"
        assert_problem(response, 401)


class TestRefresh:
    async def test_rotates_on_every_use(self, client: httpx.AsyncClient) -> None:
        account = await register(client)
        first = await client.post(
            "/api/auth/refresh", json={"refresh_token": account.refresh_token}
        )
        assert first.status_code == 200
        rotated = first.json()
        assert rotated["refresh_token"] != account.refresh_token
        second = await client.post(
            "/api/auth/refresh", json={"refresh_token": rotated["refresh_token"]}
        )
        assert second.status_code == 200

    async def test_reuse_revokes_the_whole_family(self, client: httpx.AsyncClient) -> None:
        account = await register(client)
        rotated = (
            await client.post("/api/auth/refresh", json={"refresh_token": account.refresh_token})
        ).json()
        replay = await client.post(
            "/api/auth/refresh", json={"refresh_token": account.refresh_token}
        )
        assert_problem(replay, 401, "refresh-token-reused")
        # The thief's replay killed the legitimate descendant too, and its access token.
        after = await client.post(
            "/api/auth/refresh", json={"refresh_token": rotated["refresh_token"]}
        )
        assert_problem(after, 401)
        stale_access = await client.get(
            "/api/auth/me", headers={"Authorization": f"Bearer {rotated['access_token']}"}
        )
        assert_problem(stale_access, 401)

    async def test_reuse_is_recorded_as_an_event(self, client: httpx.AsyncClient) -> None:
        account = await register(client)
        other = await login(client, account.email)  # a second session to read events with
        await client.post("/api/auth/refresh", json={"refresh_token": account.refresh_token})
        await client.post("/api/auth/refresh", json={"refresh_token": account.refresh_token})
        events = await client.get(
            "/api/events", params={"name": "session.reuse_detected"}, headers=other.headers
        )
        assert events.json()["total"] == 1

    async def test_access_token_is_not_a_refresh_token(self, client: httpx.AsyncClient) -> None:
        account = await register(client)
        response = await client.post(
            "/api/auth/refresh", json={"refresh_token": account.access_token}
        )
        assert_problem(response, 401)

    async def test_unknown_but_well_signed_token_is_rejected(
        self, client: httpx.AsyncClient, app: object
    ) -> None:
        from datetime import timedelta

        from intuitivus_flow.kit.security import TokenType

        account = await register(client)
        profile = await me(client, account.headers)
        codec = app.state.context.auth.codec  # type: ignore[attr-defined]
        import uuid

        forged, _ = codec.encode(
            TokenType.refresh,
            user_id=uuid.UUID(profile["id"]),
            workspace_id=uuid.UUID(profile["workspace"]["id"]),
            session_id=uuid.uuid4(),
            lifetime=timedelta(minutes=5),
        )
        response = await client.post("/api/auth/refresh", json={"refresh_token": forged})
        assert_problem(response, 401)


class TestLogout:
    async def test_revokes_access_and_refresh(self, client: httpx.AsyncClient) -> None:
        account = await register(client)
        response = await client.post("/api/auth/logout", headers=account.headers)
        assert response.status_code == 204
        assert_problem(await client.get("/api/auth/me", headers=account.headers), 401)
        refreshed = await client.post(
            "/api/auth/refresh", json={"refresh_token": account.refresh_token}
        )
        assert_problem(refreshed, 401)

    async def test_other_sessions_survive(self, client: httpx.AsyncClient) -> None:
        account = await register(client)
        laptop = await login(client, account.email)
        await client.post("/api/auth/logout", headers=account.headers)
        assert (await me(client, laptop.headers))["email"] == account.email


class TestChangePassword:
    async def test_changes_and_signs_out_other_sessions(self, client: httpx.AsyncClient) -> None:
        account = await register(client)
        other = await login(client, account.email)
        new_password = "an even better passphrase"
        response = await client.post(
            "/api/auth/password",
            json={"current_password": PASSWORD, "new_password": new_password},
            headers=account.headers,
        )
        assert response.status_code == 204
        assert_problem(await client.get("/api/auth/me", headers=other.headers), 401)
        await me(client, account.headers)  # the session that changed it stays
        await login(client, account.email, new_password)
        old = await client.post(
            "/api/auth/login", json={"email": account.email, "password": PASSWORD}
        )
        assert_problem(old, 401)

    async def test_wrong_current_password(self, client: httpx.AsyncClient) -> None:
        account = await register(client)
        response = await client.post(
            "/api/auth/password",
            json={"current_password": "not it at all", "new_password": "whatever whatever"},
            headers=account.headers,
        )
        body = assert_problem(response, 422)
        assert body["field"] == "current_password"

    async def test_same_password_is_refused(self, client: httpx.AsyncClient) -> None:
        account = await register(client)
        response = await client.post(
            "/api/auth/password",
            json={"current_password": PASSWORD, "new_password": PASSWORD},
            headers=account.headers,
        )
        assert_problem(response, 422)
