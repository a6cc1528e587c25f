"""The collection API from other sites' pages (issue 15): a write key's allowed origins and
CORS, on both engines, with and without the instance's own FLOW_CORS_ORIGINS.

The matrix: an allowed origin (preflight and call get the permission, refusals after the origin
check stay readable), a disallowed one (403 without permission, nothing stored), an origin that
another key lists (the preflight passes, the call does not), a wildcard entry, a revoked key,
no origin at all (a server), and the wrong method or header.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.analytics.events.test_collection import basic, write_key
from tests.helpers import Account, assert_problem, register

SITE = "https://shop.example.com"
OTHER_SITE = "https://evil.example.net"
INSTANCE_FRONT_END = "https://app.agency.example"
CALL = {"userId": "u1", "event": "signup"}
CORS_HEADERS = ("access-control-allow-origin", "access-control-allow-methods")


def preflight(
    client: httpx.AsyncClient,
    origin: str | None,
    *,
    call: str = "track",
    method: str = "POST",
    headers: str = "authorization,content-type",
) -> Any:
    sent = {"Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers}
    if origin is not None:
        sent["Origin"] = origin
    return client.options(f"/api/analytics/{call}", headers=sent)


def track(client: httpx.AsyncClient, key: str, origin: str | None, **call: Any) -> Any:
    sent = basic(key) | ({"Origin": origin} if origin else {})
    return client.post("/api/analytics/track", json=CALL | call, headers=sent)


def assert_no_permission(response: httpx.Response) -> None:
    assert not any(name in response.headers for name in CORS_HEADERS), response.headers


async def keys_of(client: httpx.AsyncClient, owner: Account) -> list[dict[str, Any]]:
    listed = await client.get("/api/analytics/write-keys", headers=owner.headers)
    items: list[dict[str, Any]] = listed.json()["items"]
    return items


class TestAllowedOrigin:
    async def test_preflight_grants_the_permission(self, client: httpx.AsyncClient) -> None:
        await write_key(client, await register(client), allowed_origins=[SITE])
        for call in ("track", "identify", "batch"):
            response = await preflight(client, SITE, call=call)
            assert response.status_code == 204, response.text
            assert response.headers["access-control-allow-origin"] == SITE
            assert response.headers["access-control-allow-methods"] == "POST"
            allowed = response.headers["access-control-allow-headers"].split(", ")
            assert set(allowed) == {"authorization", "content-type"}
            assert int(response.headers["access-control-max-age"]) > 0
            assert "Origin" in response.headers["vary"]
            assert "access-control-allow-credentials" not in response.headers

    async def test_call_carries_the_permission_and_records_use(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await register(client)
        key = await write_key(client, owner, allowed_origins=[SITE])
        assert (await keys_of(client, owner))[0]["last_used_at"] is None
        sent = await track(client, key, SITE)
        assert sent.status_code == 200, sent.text
        assert sent.json()["accepted"] == 1
        assert sent.headers["access-control-allow-origin"] == SITE
        assert "Origin" in sent.headers["vary"]
        assert (await keys_of(client, owner))[0]["last_used_at"] is not None

    async def test_a_refusal_after_the_origin_check_is_readable(
        self, client: httpx.AsyncClient
    ) -> None:
        # The page's script must be able to read a 422 to learn what was wrong.
        key = await write_key(client, await register(client), allowed_origins=[SITE])
        refused = await track(client, key, SITE, event="")
        assert_problem(refused, 422)
        assert refused.headers["access-control-allow-origin"] == SITE

    async def test_a_wildcard_admits_subdomains_only(self, client: httpx.AsyncClient) -> None:
        key = await write_key(
            client, await register(client), allowed_origins=["https://*.example.com"]
        )
        assert (await preflight(client, "https://blog.example.com")).status_code == 204
        assert (await track(client, key, "https://a.b.example.com")).status_code == 200
        assert_problem(await track(client, key, "https://example.com"), 403)

    async def test_origins_are_stored_as_browsers_send_them(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await register(client)
        key = await write_key(client, owner, allowed_origins=["HTTPS://Shop.Example.com:443/"])
        assert (await keys_of(client, owner))[0]["allowed_origins"] == [SITE]
        assert (await track(client, key, SITE)).status_code == 200


class TestRefusedOrigin:
    async def test_an_unlisted_origin_gets_no_permission(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        key = await write_key(client, owner, allowed_origins=[SITE])
        refused_preflight = await preflight(client, OTHER_SITE)
        assert_problem(refused_preflight, 403)
        assert_no_permission(refused_preflight)
        refused = await track(client, key, OTHER_SITE)
        assert_problem(refused, 403)
        assert_no_permission(refused)
        assert (await keys_of(client, owner))[0]["last_used_at"] is None  # nothing recorded

    async def test_another_keys_origin_passes_the_preflight_only(
        self, client: httpx.AsyncClient
    ) -> None:
        # A preflight carries no key; the call is held to its own key's list.
        await write_key(client, await register(client), allowed_origins=[OTHER_SITE])
        mine = await write_key(client, await register(client), allowed_origins=[SITE])
        assert (await preflight(client, OTHER_SITE)).status_code == 204
        refused = await track(client, mine, OTHER_SITE)
        assert_problem(refused, 403)
        assert_no_permission(refused)

    async def test_a_key_without_origins_is_for_servers(self, client: httpx.AsyncClient) -> None:
        key = await write_key(client, await register(client))
        assert (await track(client, key, None)).status_code == 200  # no Origin: not a page
        assert_problem(await track(client, key, SITE), 403)
        assert_problem(await track(client, key, "null"), 403)  # sandboxed frames, file://

    async def test_a_revoked_key_no_longer_opens_the_preflight(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await register(client)
        await write_key(client, owner, allowed_origins=[SITE])
        key_id = (await keys_of(client, owner))[0]["id"]
        await client.delete(f"/api/analytics/write-keys/{key_id}", headers=owner.headers)
        assert_problem(await preflight(client, SITE), 403)

    @pytest.mark.parametrize(
        ("method", "headers"), [("PUT", "content-type"), ("POST", "content-type,x-api-key")]
    )
    async def test_other_methods_and_headers(
        self, client: httpx.AsyncClient, method: str, headers: str
    ) -> None:
        await write_key(client, await register(client), allowed_origins=[SITE])
        refused = await preflight(client, SITE, method=method, headers=headers)
        assert_problem(refused, 403)
        assert_no_permission(refused)

    async def test_unknown_call_and_plain_options(self, client: httpx.AsyncClient) -> None:
        assert_problem(await preflight(client, SITE, call="alias"), 404)
        plain = await client.options("/api/analytics/track")
        assert plain.status_code == 204
        assert plain.headers["allow"] == "POST, OPTIONS"

    @pytest.mark.parametrize(
        "origin", ["shop.example.com", "https://shop.example.com/path", "https://*", "ftp://x.io"]
    )
    async def test_bad_origins_are_refused_at_creation(
        self, client: httpx.AsyncClient, origin: str
    ) -> None:
        owner = await register(client)
        response = await client.post(
            "/api/analytics/write-keys",
            json={"name": "site", "allowed_origins": [origin]},
            headers=owner.headers,
        )
        assert_problem(response, 422)


class TestWithTheInstancesOwnCors:
    """FLOW_CORS_ORIGINS opens the API to the instance's own front ends; the collection calls
    keep their keys' lists (Starlette's middleware answered their preflights with a 400 for a
    customer's site before they were exempted)."""

    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"cors_origins": [INSTANCE_FRONT_END]}

    async def test_each_keeps_its_own_origins(self, client: httpx.AsyncClient) -> None:
        key = await write_key(client, await register(client), allowed_origins=[SITE])
        allowed = await preflight(client, SITE)
        assert allowed.status_code == 204, allowed.text
        assert allowed.headers["access-control-allow-origin"] == SITE
        sent = await track(client, key, SITE)
        assert sent.status_code == 200
        assert sent.headers["access-control-allow-origin"] == SITE
        front_end = await preflight(client, INSTANCE_FRONT_END)
        assert_problem(front_end, 403)
        assert_no_permission(front_end)
        # The analyses under the same prefix still follow the instance's list.
        api = await client.options(
            "/api/analytics/write-keys",
            headers={"Origin": INSTANCE_FRONT_END, "Access-Control-Request-Method": "GET"},
        )
        assert api.status_code == 200
        assert api.headers["access-control-allow-origin"] == INSTANCE_FRONT_END
