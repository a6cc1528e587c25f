from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import PASSWORD, assert_problem, login, register, unique_email


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"login_max_failures_per_account": 3, "login_max_failures_per_client": 5}


async def fail_login(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post("/api/auth/login", json={"email": email, "password": "wrong guess!"})


class TestPerAccount:
    async def test_locks_after_limit_with_retry_after(self, client: httpx.AsyncClient) -> None:
        account = await register(client)
        for _ in range(3):
            assert_problem(await fail_login(client, account.email), 401)
        locked = await client.post(
            "/api/auth/login", json={"email": account.email, "password": PASSWORD}
        )
        assert_problem(locked, 429, "rate-limited")
        assert 0 < int(locked.headers["retry-after"]) <= 900

    async def test_counts_ignore_email_case(self, client: httpx.AsyncClient) -> None:
        account = await register(client)
        for variant in (account.email, account.email.upper(), f" {account.email} "):
            await fail_login(client, variant)
        assert_problem(await fail_login(client, account.email), 429)

    async def test_success_resets_the_account_counter(self, client: httpx.AsyncClient) -> None:
        account = await register(client)
        for _ in range(2):
            await fail_login(client, account.email)
        await login(client, account.email)
        for _ in range(2):
            assert_problem(await fail_login(client, account.email), 401)


class TestPerClient:
    async def test_many_accounts_from_one_address_are_throttled(
        self, client: httpx.AsyncClient
    ) -> None:
        for _ in range(5):
            assert_problem(await fail_login(client, unique_email()), 401)
        assert_problem(await fail_login(client, unique_email()), 429)

    async def test_other_addresses_are_not_affected(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        for _ in range(5):
            await fail_login(client, unique_email())
        account = await register(client)  # sign-up is limited separately
        elsewhere = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("198.51.100.9", 1234)),
            base_url="http://testserver",
        )
        async with elsewhere:
            await login(elsewhere, account.email)


class TestWithRedis:
    @pytest.fixture
    def settings_overrides(self, redis_url: str) -> dict[str, Any]:
        return {"login_max_failures_per_account": 2, "redis_url": redis_url}

    async def test_counts_live_in_redis(self, client: httpx.AsyncClient, app: Any) -> None:
        from intuitivus_flow.kit.ratelimit import RedisCounterStore

        assert isinstance(app.state.context.counters, RedisCounterStore)
        account = await register(client)
        for _ in range(2):
            await fail_login(client, account.email)
        assert_problem(await fail_login(client, account.email), 429)
        keys = await app.state.context.redis.keys("flow:rl:login-account:*")
        assert keys  # shared by every worker and instance


class TestSignupThrottle:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"register_max_per_client": 2}

    async def test_signups_per_address_are_limited(self, client: httpx.AsyncClient) -> None:
        await register(client)
        await register(client)
        response = await client.post(
            "/api/auth/register",
            json={"email": unique_email(), "password": PASSWORD, "workspace_name": "W"},
        )
        assert_problem(response, 429)
