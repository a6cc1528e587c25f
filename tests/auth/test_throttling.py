from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.helpers import PASSWORD, assert_problem, login, register, unique_email

pytestmark = pytest.mark.slow

PARALLEL_GUESSES = 30


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


# --- concurrency: every attempt is counted before the slow password check --------------------


@pytest.fixture(params=["memory", "redis"])
def counters(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings that put the throttles' counters in this process or in Redis."""
    if request.param == "memory":
        return {}
    # The default 1 s Redis timeout is the product's outage trigger; on a crowded test machine a
    # burst of parallel requests can wait that long for the event loop, and half the burst would
    # then count in the in-process fallback instead. These tests are about counting, not outages.
    return {"redis_url": request.getfixturevalue("redis_url"), "redis_timeout_seconds": 10}


async def in_parallel(attempt: Callable[[], Awaitable[httpx.Response]]) -> list[httpx.Response]:
    """PARALLEL_GUESSES requests in flight at once over the ASGI app."""
    return await asyncio.gather(*(attempt() for _ in range(PARALLEL_GUESSES)))


def assert_only_the_limit_got_through(
    responses: list[httpx.Response], *, limit: int, refused_status: int
) -> None:
    statuses = [response.status_code for response in responses]
    assert statuses.count(refused_status) == limit, statuses
    assert statuses.count(429) == len(responses) - limit, statuses
    for response in responses:
        if response.status_code == 429:
            assert_problem(response, 429, "rate-limited")
            assert int(response.headers["retry-after"]) > 0


class TestParallelGuesses:
    @pytest.fixture
    def settings_overrides(self, counters: dict[str, Any]) -> dict[str, Any]:
        return {
            **counters,
            "login_max_failures_per_account": 3,
            "login_max_failures_per_client": 1000,
            "register_max_per_client": 3,
        }

    async def test_parallel_wrong_passwords_for_one_account(
        self, client: httpx.AsyncClient
    ) -> None:
        account = await register(client)
        responses = await in_parallel(lambda: fail_login(client, account.email))
        assert_only_the_limit_got_through(responses, limit=3, refused_status=401)

    async def test_parallel_wrong_current_passwords_on_password_change(
        self, client: httpx.AsyncClient
    ) -> None:
        account = await register(client)
        responses = await in_parallel(
            lambda: client.post(
                "/api/auth/password",
                json={"current_password": "wrong guess!", "new_password": "a new long password"},
                headers=account.headers,
            )
        )
        assert_only_the_limit_got_through(responses, limit=3, refused_status=422)
        # The right password is refused too until the window ends: a lock, not a hint.
        locked = await client.post(
            "/api/auth/password",
            json={"current_password": PASSWORD, "new_password": "a new long password"},
            headers=account.headers,
        )
        assert_problem(locked, 429, "rate-limited")

    async def test_parallel_sign_ups_from_one_address(self, client: httpx.AsyncClient) -> None:
        responses = await in_parallel(
            lambda: client.post(
                "/api/auth/register",
                json={"email": unique_email(), "password": PASSWORD, "workspace_name": "W"},
            )
        )
        assert_only_the_limit_got_through(responses, limit=3, refused_status=201)


class TestParallelClientGuesses:
    @pytest.fixture
    def settings_overrides(self, counters: dict[str, Any]) -> dict[str, Any]:
        return {**counters, "login_max_failures_per_client": 4}

    async def test_parallel_guesses_across_accounts_from_one_address(
        self, client: httpx.AsyncClient
    ) -> None:
        responses = await in_parallel(lambda: fail_login(client, unique_email()))
        assert_only_the_limit_got_through(responses, limit=4, refused_status=401)

    async def test_successful_sign_ins_do_not_use_up_the_address(
        self, client: httpx.AsyncClient
    ) -> None:
        # An office behind one address signs in all morning: only failures count.
        account = await register(client)
        for _ in range(6):
            await login(client, account.email)
        for _ in range(4):
            assert_problem(await fail_login(client, unique_email()), 401)
        assert_problem(await fail_login(client, unique_email()), 429)


class TestPasswordChangeThrottle:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"login_max_failures_per_account": 2}

    async def test_wrong_current_passwords_lock_then_success_resets(
        self, client: httpx.AsyncClient
    ) -> None:
        account = await register(client)
        change = {"current_password": "wrong guess!", "new_password": "a new long password"}
        assert_problem(
            await client.post("/api/auth/password", json=change, headers=account.headers), 422
        )
        right = {"current_password": PASSWORD, "new_password": "a new long password"}
        changed = await client.post("/api/auth/password", json=right, headers=account.headers)
        assert changed.status_code == 204, changed.text
        for _ in range(2):  # the success cleared the earlier failure
            assert_problem(
                await client.post("/api/auth/password", json=change, headers=account.headers), 422
            )
        assert_problem(
            await client.post("/api/auth/password", json=change, headers=account.headers), 429
        )
