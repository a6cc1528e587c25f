"""CSRF tokens are bound to the browser's session: a token is worth nothing anywhere else, even
to an attacker who can plant cookies; production cookies are `__Host-` cookies."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from intuitivus_flow.app import create_app
from intuitivus_flow.config import Settings
from intuitivus_flow.kit import migrations
from tests.web.browsing import PASSWORD, Web, csrf_from, sign_up, submit

SESSION = "flow_session"


async def rename_workspace(browser: httpx.AsyncClient, token: str) -> httpx.Response:
    return await browser.post("/settings/workspace", data={"csrf_token": token, "name": "Pwned"})


async def token_of(browser: httpx.AsyncClient, page: str = "/settings") -> str:
    return csrf_from((await browser.get(page)).text)


def plant_cookies_except_session(source: httpx.AsyncClient, target: httpx.AsyncClient) -> None:
    """Cookie tossing: the attacker writes its own cookies into the victim's browser (all but
    the session cookie, which would sign the victim into the attacker's account)."""
    for cookie in source.cookies.jar:
        if cookie.name != SESSION:
            target.cookies.set(cookie.name, cookie.value or "", domain=cookie.domain)


async def test_a_token_from_another_signed_in_session_is_refused(web: Web) -> None:
    async with web.client() as attacker, web.client() as victim:
        await sign_up(attacker, email="attacker@example.com", workspace="Evil")
        await sign_up(victim, email="victim@example.com", workspace="Acme")
        stolen = await token_of(attacker)

        assert (await rename_workspace(victim, stolen)).status_code == 403
        plant_cookies_except_session(attacker, victim)
        assert (await rename_workspace(victim, stolen)).status_code == 403

        # The victim's own token still works: the refusal is about the binding.
        assert (await rename_workspace(victim, await token_of(victim))).status_code == 303


async def test_a_token_from_another_anonymous_browser_is_refused(web: Web) -> None:
    async with web.client() as owner:
        await sign_up(owner, email="owner@example.com")
    async with web.client() as attacker, web.client() as victim:
        stolen = await token_of(attacker, "/signin")
        await victim.get("/signin")  # the victim's browser has its own pre-session
        credentials = {"email": "owner@example.com", "password": PASSWORD}

        refused = await victim.post("/signin", data={"csrf_token": stolen, **credentials})
        assert refused.status_code == 403
        assert SESSION not in victim.cookies

        fresh = await victim.post(
            "/signin", data={"csrf_token": await token_of(victim, "/signin"), **credentials}
        )
        assert fresh.status_code == 303


async def test_tokens_do_not_survive_sign_in_or_sign_out(browser: httpx.AsyncClient) -> None:
    before_sign_in = await token_of(browser, "/signup")
    await sign_up(browser)
    assert (await rename_workspace(browser, before_sign_in)).status_code == 403

    signed_in = await token_of(browser)
    assert (await browser.post("/signout", data={"csrf_token": signed_in})).status_code == 303
    # Signed out, neither the signed-in token nor the first pre-session's is accepted.
    for stale in (signed_in, before_sign_in):
        response = await browser.post(
            "/signin", data={"csrf_token": stale, "email": "owner@example.com", "password": "x"}
        )
        assert response.status_code == 403


@pytest.mark.parametrize(
    "token",
    ["", "x" * 43, "a" * 22 + "." + "0" * 64, "a" * 22 + "." + "0" * 63 + "\u00e9", "." * 87],
)
async def test_forged_or_malformed_tokens_are_refused(
    browser: httpx.AsyncClient, token: str
) -> None:
    await sign_up(browser)
    assert (await rename_workspace(browser, token)).status_code == 403


# --- production cookies ------------------------------------------------------------------------


@pytest.fixture
async def production(tmp_path: Path) -> AsyncIterator[Web]:
    settings = Settings(
        env="production",
        data_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/p.db",
        secret_key=secrets.token_urlsafe(48),
        seed_demo=False,
    )
    app = create_app(settings)
    await migrations.upgrade(app.state.context.engine)
    yield Web(app)
    await app.state.context.close()


def https_client(web: Web) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web.app), base_url="https://flow.example.com"
    )


def set_cookie_headers(response: httpx.Response) -> dict[str, str]:
    headers = response.headers.get_list("set-cookie")
    return {header.split("=", 1)[0]: header for header in headers}


def assert_host_cookie(header: str) -> None:
    attributes = [part.strip().lower() for part in header.split(";")[1:]]
    assert "secure" in attributes
    assert "path=/" in attributes
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert not any(attribute.startswith("domain") for attribute in attributes)


async def test_production_uses_host_prefixed_secure_cookies(production: Web) -> None:
    async with https_client(production) as browser:
        page = await browser.get("/signup")
        cookies = set_cookie_headers(page)
        assert set(cookies) == {"__Host-flow_presession"}
        assert_host_cookie(cookies["__Host-flow_presession"])

        signed_up = await submit(
            browser,
            "/signup",
            "/signup",
            {"email": "o@example.com", "password": PASSWORD, "name": "O", "workspace_name": "A"},
        )
        assert signed_up.status_code == 303, signed_up.text
        cookies = set_cookie_headers(signed_up)
        assert set(cookies) == {"__Host-flow_session", "__Host-flow_presession"}
        for header in cookies.values():
            assert_host_cookie(header)

        # The session works, and so do its forms.
        assert (await rename_workspace(browser, await token_of(browser))).status_code == 303


async def test_production_ignores_cookies_without_the_prefix(production: Web) -> None:
    async with https_client(production) as browser:
        await submit(
            browser,
            "/signup",
            "/signup",
            {"email": "o@example.com", "password": PASSWORD, "name": "O", "workspace_name": "A"},
        )
        session = browser.cookies["__Host-flow_session"]
    # A cookie a subdomain could set (no prefix) does not sign anyone in.
    async with https_client(production) as tossed:
        tossed.cookies.set(SESSION, session)
        assert (await tossed.get("/settings")).status_code == 303
