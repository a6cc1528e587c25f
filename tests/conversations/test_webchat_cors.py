"""Web chat from other sites' pages: the widget's allowed origins and CORS, on both engines.

The matrix: an allowed origin (preflight and actual requests get the permission), a
disallowed one (403 problem, no permission, nothing written), no origin at all (a server, not a
browser page), and the wrong method or header.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conversations.support import create_agent, inbox
from tests.helpers import Account, assert_problem, invite_and_join, register

VISITOR = "visitor-cors-01"
SITE = "https://shop.example.com"
OTHER_SITE = "https://evil.example.net"
CORS_HEADERS = ("access-control-allow-origin", "access-control-allow-methods")
BAD_ENTRIES = (
    "shop.example.com",
    "https://shop.example.com/chat",
    "https://shop.example.com?x=1",
    "https://*",
    "https://*.com",
    "https://shop.*.com",
    "ftp://shop.example.com",
    "https://user@shop.example.com",
    "https://shop.example.com:99999",
    "null",
    "x" * 300,
)


async def widget(client: httpx.AsyncClient, origins: list[str]) -> tuple[Account, str]:
    owner = await register(client)
    await create_agent(client, owner)
    changed = await client.patch(
        "/api/conversations/settings",
        json={"widget_allowed_origins": origins},
        headers=owner.headers,
    )
    assert changed.status_code == 200, changed.text
    return owner, str(changed.json()["widget_key"])


def preflight(
    client: httpx.AsyncClient,
    key: str,
    origin: str | None,
    *,
    method: str = "POST",
    headers: str = "content-type",
) -> Any:
    sent = {"Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers}
    if origin is not None:
        sent["Origin"] = origin
    return client.options(f"/api/webchat/{key}/messages", headers=sent)


def post(client: httpx.AsyncClient, key: str, origin: str | None, text: str = "Hi") -> Any:
    return client.post(
        f"/api/webchat/{key}/messages",
        json={"visitor": VISITOR, "text": text},
        headers={"Origin": origin} if origin else {},
    )


def assert_no_permission(response: httpx.Response) -> None:
    assert not any(name in response.headers for name in CORS_HEADERS), response.headers


async def assert_nothing_written(client: httpx.AsyncClient, owner: Account) -> None:
    assert (await inbox(client, owner))["items"] == []
    contacts = await client.get("/api/contacts", headers=owner.headers)
    assert contacts.json()["total"] == 0


class TestAllowedOrigin:
    async def test_preflight_grants_the_permission(self, client: httpx.AsyncClient) -> None:
        _, key = await widget(client, [SITE])
        response = await preflight(client, key, SITE)
        assert response.status_code == 204, response.text
        assert response.headers["access-control-allow-origin"] == SITE
        assert set(response.headers["access-control-allow-methods"].split(", ")) == {
            "GET",
            "POST",
        }
        assert response.headers["access-control-allow-headers"] == "content-type"
        assert int(response.headers["access-control-max-age"]) > 0
        assert "Origin" in response.headers["vary"]
        assert "access-control-allow-credentials" not in response.headers  # no cookies

    async def test_post_and_poll_carry_the_permission(self, client: httpx.AsyncClient) -> None:
        owner, key = await widget(client, [SITE])
        sent = await post(client, key, SITE, "From the shop")
        assert sent.status_code == 202, sent.text
        assert sent.headers["access-control-allow-origin"] == SITE
        assert "Origin" in sent.headers["vary"]
        polled = await client.get(
            f"/api/webchat/{key}/messages", params={"visitor": VISITOR}, headers={"Origin": SITE}
        )
        assert polled.status_code == 200
        assert polled.headers["access-control-allow-origin"] == SITE
        assert polled.headers["cache-control"] == "no-store"
        assert [m["text"] for m in polled.json()["messages"]] == ["From the shop"]
        assert (await inbox(client, owner))["items"][0]["channel"] == "webchat"

    async def test_a_refusal_after_the_origin_check_is_readable(
        self, client: httpx.AsyncClient
    ) -> None:
        # The page's script must be able to read a 422 (or 429) to tell the visitor why.
        _, key = await widget(client, [SITE])
        refused = await post(client, key, SITE, text="x" * 2001)
        assert_problem(refused, 422)
        assert refused.headers["access-control-allow-origin"] == SITE

    async def test_a_wildcard_admits_subdomains_only(self, client: httpx.AsyncClient) -> None:
        _, key = await widget(client, ["https://*.example.com"])
        for subdomain in ("https://shop.example.com", "https://eu.shop.example.com"):
            response = await preflight(client, key, subdomain)
            assert response.headers["access-control-allow-origin"] == subdomain
        for foreign in (
            "https://example.com",
            "http://shop.example.com",
            "https://shopexample.com",
        ):
            response = await preflight(client, key, foreign)
            assert_problem(response, 403)
            assert_no_permission(response)


class TestDisallowedOrigin:
    async def test_preflight_is_refused_without_permission(self, client: httpx.AsyncClient) -> None:
        _, key = await widget(client, [SITE])
        for origin in (
            OTHER_SITE,
            "null",
            "https://shop.example.com:8443",
            "http://shop.example.com",
        ):
            response = await preflight(client, key, origin)
            body = assert_problem(response, 403, "forbidden")
            assert "allowed origins" in body["detail"]
            assert_no_permission(response)

    async def test_actual_requests_are_refused_and_write_nothing(
        self, client: httpx.AsyncClient
    ) -> None:
        owner, key = await widget(client, [SITE])
        # A text/plain POST needs no preflight in a browser: the server itself must refuse it.
        simple = await client.post(
            f"/api/webchat/{key}/messages",
            content=b'{"visitor": "visitor-cors-01", "text": "hi"}',
            headers={"Origin": OTHER_SITE, "Content-Type": "text/plain"},
        )
        assert_problem(simple, 403)
        assert_no_permission(simple)
        refused = await post(client, key, OTHER_SITE)
        assert_problem(refused, 403)
        assert_no_permission(refused)
        assert "Origin" in refused.headers["vary"]
        polled = await client.get(
            f"/api/webchat/{key}/messages",
            params={"visitor": VISITOR},
            headers={"Origin": OTHER_SITE},
        )
        assert_problem(polled, 403)
        assert_no_permission(polled)
        await assert_nothing_written(client, owner)

    async def test_a_new_widget_admits_no_site(self, client: httpx.AsyncClient) -> None:
        owner, key = await widget(client, [])
        assert_problem(await preflight(client, key, SITE), 403)
        assert_problem(await post(client, key, SITE), 403)
        await assert_nothing_written(client, owner)

    async def test_unknown_or_disabled_widget_is_404_without_permission(
        self, client: httpx.AsyncClient
    ) -> None:
        owner, key = await widget(client, [SITE])
        missing = await preflight(client, "no-such-widget", SITE)
        assert_problem(missing, 404)
        assert_no_permission(missing)
        await client.patch(
            "/api/conversations/settings", json={"widget_enabled": False}, headers=owner.headers
        )
        disabled = await preflight(client, key, SITE)
        assert_problem(disabled, 404)
        assert_no_permission(disabled)


class TestNoOrigin:
    async def test_a_plain_options_lists_the_methods(self, client: httpx.AsyncClient) -> None:
        _, key = await widget(client, [SITE])
        response = await client.options(f"/api/webchat/{key}/messages")
        assert response.status_code == 204
        assert response.headers["allow"] == "GET, POST, OPTIONS"
        assert_no_permission(response)

    async def test_a_request_from_no_page_is_served_without_permission(
        self, client: httpx.AsyncClient
    ) -> None:
        _, key = await widget(client, [SITE])
        sent = await post(client, key, None)
        assert sent.status_code == 202, sent.text
        assert_no_permission(sent)
        assert "Origin" in sent.headers["vary"]


class TestWrongMethodOrHeader:
    async def test_preflight_for_another_method_is_refused(self, client: httpx.AsyncClient) -> None:
        _, key = await widget(client, [SITE])
        for method in ("DELETE", "PUT", "PATCH"):
            response = await preflight(client, key, SITE, method=method)
            assert_problem(response, 403)
            assert_no_permission(response)

    async def test_preflight_announcing_other_headers_is_refused(
        self, client: httpx.AsyncClient
    ) -> None:
        _, key = await widget(client, [SITE])
        response = await preflight(client, key, SITE, headers="content-type, authorization")
        body = assert_problem(response, 403)
        assert "authorization" in body["detail"]
        assert_no_permission(response)

    async def test_the_method_itself_is_405(self, client: httpx.AsyncClient) -> None:
        _, key = await widget(client, [SITE])
        response = await client.delete(f"/api/webchat/{key}/messages", headers={"Origin": SITE})
        assert_problem(response, 405)
        assert_no_permission(response)


class TestTheList:
    async def test_entries_are_normalised_and_deduplicated(self, client: httpx.AsyncClient) -> None:
        owner, _ = await widget(client, [])
        changed = await client.patch(
            "/api/conversations/settings",
            json={
                "widget_allowed_origins": [
                    "HTTPS://Shop.Example.com:443/",
                    "https://shop.example.com",
                    "http://localhost:8080",
                    "https://*.Example.org",
                ]
            },
            headers=owner.headers,
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["widget_allowed_origins"] == [
            "https://shop.example.com",
            "http://localhost:8080",
            "https://*.example.org",
        ]
        read = await client.get("/api/conversations/settings", headers=owner.headers)
        assert read.json()["widget_allowed_origins"] == changed.json()["widget_allowed_origins"]

    async def test_a_bad_entry_is_422_and_changes_nothing(self, client: httpx.AsyncClient) -> None:
        owner, _ = await widget(client, [SITE])
        for entry in BAD_ENTRIES:
            refused = await client.patch(
                "/api/conversations/settings",
                json={"widget_allowed_origins": [SITE, entry], "widget_enabled": False},
                headers=owner.headers,
            )
            body = assert_problem(refused, 422)
            assert any("widget_allowed_origins" in error["field"] for error in body["errors"])
        read = (await client.get("/api/conversations/settings", headers=owner.headers)).json()
        assert (read["widget_allowed_origins"], read["widget_enabled"]) == ([SITE], True)

    async def test_members_cannot_change_it(self, client: httpx.AsyncClient) -> None:
        owner, _ = await widget(client, [SITE])
        member = await invite_and_join(client, owner, role="member")
        refused = await client.patch(
            "/api/conversations/settings",
            json={"widget_allowed_origins": [OTHER_SITE]},
            headers=member.headers,
        )
        assert refused.status_code == 403
        read = (await client.get("/api/conversations/settings", headers=owner.headers)).json()
        assert read["widget_allowed_origins"] == [SITE]


class TestWithTheInstancesOwnCors:
    """FLOW_CORS_ORIGINS opens the API to the instance's own front ends; the widget's routes
    keep their own list (Starlette's middleware would refuse a customer's site)."""

    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"cors_origins": ["https://app.agency.example"]}

    async def test_each_keeps_its_own_origins(self, client: httpx.AsyncClient) -> None:
        _, key = await widget(client, [SITE])
        allowed = await preflight(client, key, SITE)
        assert allowed.status_code == 204, allowed.text
        assert allowed.headers["access-control-allow-origin"] == SITE
        instance_front_end = await preflight(client, key, "https://app.agency.example")
        assert_problem(instance_front_end, 403)
        assert_no_permission(instance_front_end)
        api = await client.options(
            "/api/auth/me",
            headers={
                "Origin": "https://app.agency.example",
                "Access-Control-Request-Method": "GET",
            },
        )
        assert api.status_code == 200
        assert api.headers["access-control-allow-origin"] == "https://app.agency.example"
