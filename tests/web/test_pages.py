"""The web shell, driven like a browser: forms, cookies, CSRF, roles and one-time secrets."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urlsplit

import httpx
import pytest

from tests.web.browsing import PASSWORD, Web, csrf_from, sign_up, submit, text_of

CSP = "default-src 'self'; frame-ancestors 'none'; form-action 'self'"


def _set_cookie_headers(response: httpx.Response, name: str) -> list[str]:
    return [v for v in response.headers.get_list("set-cookie") if v.startswith(f"{name}=")]


async def _invite(owner: httpx.AsyncClient, email: str, role: str = "member") -> str:
    """Invite `email` through the settings page; return the path of the accept link."""
    response = await submit(
        owner, "/settings", "/settings/invitations", {"email": email, "role": role}
    )
    assert response.status_code == 200
    found = re.search(r'id="invitation-link"[^>]*value="([^"]+)"', response.text)
    assert found, "the accept link is shown after inviting"
    return urlsplit(unescape(found.group(1))).path


async def _join(member: httpx.AsyncClient, accept_path: str, name: str = "Mia Member") -> None:
    """Accept an invitation in the member's own (fresh) browser, which is then signed in."""
    response = await submit(member, accept_path, accept_path, {"name": name, "password": PASSWORD})
    assert response.status_code == 303, response.text
    assert "flow_session" in member.cookies


# --- signed out ------------------------------------------------------------------------------


async def test_unauthenticated_pages_redirect_to_signin(browser: httpx.AsyncClient) -> None:
    overview = await browser.get("/")
    assert overview.status_code == 303
    assert overview.headers["location"] == "/signin"

    settings = await browser.get("/settings")
    assert settings.status_code == 303
    assert settings.headers["location"] == "/signin?next=%2Fsettings"


async def test_pages_carry_security_headers_and_a_presession_cookie(
    browser: httpx.AsyncClient,
) -> None:
    page = await browser.get("/signin")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CSP
    assert page.headers["cache-control"] == "no-store"
    # The form's CSRF token is bound to this pre-session id (tests/web/test_csrf.py).
    [cookie] = _set_cookie_headers(page, "flow_presession")
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert browser.cookies["flow_presession"] not in csrf_from(page.text)
    # Accessible basics of the layout.
    assert '<html lang="en">' in page.text
    assert 'href="#main"' in page.text
    assert '<main id="main"' in page.text
    assert '<label for="f-email">' in page.text


async def test_static_files_are_served_locally(browser: httpx.AsyncClient) -> None:
    css = await browser.get("/static/flow.css")
    assert css.status_code == 200
    assert ":focus-visible" in css.text
    assert "http" not in css.text  # nothing fetched from elsewhere (fonts, CDNs)


async def test_web_routes_are_not_in_the_openapi_schema(browser: httpx.AsyncClient) -> None:
    paths = (await browser.get("/openapi.json")).json()["paths"]
    assert not {"/signin", "/signup", "/settings", "/"} & set(paths)


# --- sign-up ---------------------------------------------------------------------------------


async def test_signup_signs_in_with_a_session_cookie(browser: httpx.AsyncClient) -> None:
    response = await sign_up(browser, workspace="Acme Marketing")

    assert response.status_code == 303
    assert response.headers["location"] == "/"
    [cookie] = _set_cookie_headers(response, "flow_session")
    assert "HttpOnly" in cookie
    assert "Path=/" in cookie
    assert "samesite=lax" in cookie.lower()
    assert "Max-Age=43200" in cookie  # the web-session lifetime (12 h by default)
    assert "Secure" not in cookie  # only in production

    overview = await browser.get("/")
    assert overview.status_code == 200
    page = text_of(overview.text)
    assert "Acme Marketing" in page
    assert "1 member" in page
    assert "Workspace created" in page  # the latest events of the workspace


async def test_signup_shows_field_errors_next_to_the_fields(browser: httpx.AsyncClient) -> None:
    response = await submit(
        browser,
        "/signup",
        "/signup",
        {"email": "not-an-email", "password": "short", "name": "", "workspace_name": ""},
    )

    assert response.status_code == 422
    for field in ("email", "password", "workspace_name"):
        assert f'id="f-{field}-error"' in response.text
        assert re.search(
            rf'id="f-{field}"[^>]*aria-describedby="[^"]*f-{field}-error"', response.text
        )
    assert 'aria-invalid="true"' in response.text
    assert 'value="not-an-email"' in response.text  # kept for correction
    assert 'value="short"' not in response.text  # passwords are never echoed


async def test_signup_with_a_taken_email_is_a_conflict_on_the_email_field(web: Web) -> None:
    async with web.client() as first, web.client() as second:
        await sign_up(first, email="taken@example.com")
        response = await sign_up(second, email="TAKEN@example.com")

    assert response.status_code == 409
    assert 'id="f-email-error"' in response.text
    assert "already exists" in response.text


# --- sign-in / sign-out ----------------------------------------------------------------------


async def test_signin_with_a_wrong_password_shows_an_error(web: Web) -> None:
    async with web.client() as owner:
        await sign_up(owner, email="owner@example.com")
    async with web.client() as browser:
        response = await submit(
            browser,
            "/signin",
            "/signin",
            {"email": "owner@example.com", "password": "wrong password"},
        )

    assert response.status_code == 401
    assert 'role="alert"' in response.text
    assert "Invalid email or password" in response.text
    assert "flow_session" not in browser.cookies


async def test_signin_returns_to_the_requested_page(web: Web) -> None:
    async with web.client() as owner:
        await sign_up(owner, email="owner@example.com")
    async with web.client() as browser:
        redirected = await browser.get("/settings")
        response = await submit(
            browser,
            redirected.headers["location"],
            "/signin",
            {"email": "owner@example.com", "password": PASSWORD, "next": "/settings"},
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/settings"
        assert (await browser.get("/settings")).status_code == 200


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
    ],
)
async def test_open_redirects_in_next_are_ignored(web: Web, next_url: str) -> None:
    async with web.client() as owner:
        await sign_up(owner, email="owner@example.com")
    async with web.client() as browser:
        form = await browser.get("/signin", params={"next": next_url})
        assert 'name="next" value="/"' in form.text
        response = await browser.post(
            "/signin",
            data={
                "csrf_token": csrf_from(form.text),
                "email": "owner@example.com",
                "password": PASSWORD,
                "next": next_url,
            },
        )
    assert response.status_code == 303
    assert response.headers["location"] == "/"


async def test_repeated_failures_are_throttled_with_429(web: Web) -> None:
    async with web.client() as owner:
        await sign_up(owner, email="owner@example.com")
    async with web.client() as browser:
        token = csrf_from((await browser.get("/signin")).text)
        wrong = {"csrf_token": token, "email": "owner@example.com", "password": "wrong password"}
        statuses = [(await browser.post("/signin", data=wrong)).status_code for _ in range(5)]
        throttled = await browser.post("/signin", data={**wrong, "password": PASSWORD})

    assert statuses == [401] * 5
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0
    assert "Too many failed sign-ins" in throttled.text
    assert 'role="alert"' in throttled.text


async def test_signout_ends_the_session(web: Web, browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    stolen_cookie = browser.cookies["flow_session"]

    response = await submit(browser, "/", "/signout", {})

    assert response.status_code == 303
    assert response.headers["location"] == "/signin"
    assert "flow_session" not in browser.cookies
    # The old cookie is worthless now: the session was revoked on the server.
    async with web.client(cookies={"flow_session": stolen_cookie}) as replay:
        assert (await replay.get("/")).status_code == 303


# --- CSRF ------------------------------------------------------------------------------------


async def test_posts_without_a_matching_csrf_token_are_refused(browser: httpx.AsyncClient) -> None:
    await browser.get("/signin")  # the browser now holds a pre-session cookie
    fields = {"email": "owner@example.com", "password": PASSWORD}

    missing = await browser.post("/signin", data=fields)
    forged = await browser.post("/signin", data={**fields, "csrf_token": "x" * 43})
    browser.cookies.clear()
    no_cookie = await browser.post("/signin", data={**fields, "csrf_token": "x" * 43})
    as_json = await browser.post("/signup", json=fields)

    for response in (missing, forged, no_cookie, as_json):
        assert response.status_code == 403
        assert 'role="alert"' in response.text
        assert response.headers["content-security-policy"] == CSP


# --- settings --------------------------------------------------------------------------------


async def test_settings_lists_members_and_renames_the_workspace(
    browser: httpx.AsyncClient,
) -> None:
    await sign_up(browser, email="owner@example.com", name="Olivia Owner", workspace="Acme")

    page = text_of((await browser.get("/settings")).text)
    assert "Olivia Owner" in page
    assert "owner@example.com" in page
    assert "Owner" in page
    assert "Active" in page

    renamed = await submit(browser, "/settings", "/settings/workspace", {"name": "Acme Growth"})
    assert renamed.status_code == 303
    after = text_of((await browser.get(renamed.headers["location"])).text)
    assert "Acme Growth" in after
    assert "The workspace was renamed." in after

    empty = await submit(browser, "/settings", "/settings/workspace", {"name": ""})
    assert empty.status_code == 422
    assert 'id="workspace-name-error"' in empty.text


async def test_invited_member_joins_and_cannot_use_admin_actions(web: Web) -> None:
    async with web.client() as owner:
        await sign_up(owner, workspace="Acme Marketing")
        accept_path = await _invite(owner, "mia@example.com")
        # The link is shown once: the next page view does not show it again.
        again = await owner.get("/settings")
        assert accept_path not in again.text
        assert "mia@example.com" in text_of(again.text)  # listed as pending

        async with web.client() as member:
            await _join(member, accept_path)
            overview = text_of((await member.get("/")).text)
            assert "Acme Marketing" in overview
            assert "2 members" in overview
            assert "Mia Member" in overview

            settings = await member.get("/settings")
            assert settings.status_code == 200
            assert "/settings/invitations" not in settings.text  # no invite form
            assert "/settings/api-keys" not in settings.text  # no key management
            assert "/deactivate" not in settings.text

            token = csrf_from(settings.text)
            invite = await member.post(
                "/settings/invitations",
                data={"csrf_token": token, "email": "x@example.com", "role": "member"},
            )
            key = await member.post(
                "/settings/api-keys",
                data={"csrf_token": token, "name": "k", "scopes": ["workspace:read"]},
            )
            rename = await member.post(
                "/settings/workspace", data={"csrf_token": token, "name": "Mine now"}
            )
        for response in (invite, key, rename):
            assert response.status_code == 403
            assert 'role="alert"' in response.text

        # The owner sees the member, and the accepted link cannot be used twice.
        members = text_of((await owner.get("/settings")).text)
        assert "mia@example.com" in members
        async with web.client() as stranger:
            reused = await submit(
                stranger, accept_path, accept_path, {"name": "Eve", "password": PASSWORD}
            )
        assert reused.status_code == 409


async def test_deactivating_a_member_signs_them_out(web: Web) -> None:
    async with web.client() as owner:
        await sign_up(owner)
        accept_path = await _invite(owner, "mia@example.com")
        async with web.client() as member:
            await _join(member, accept_path)
            assert (await member.get("/")).status_code == 200
            page = await owner.get("/settings")
            member_id = re.search(r"/settings/members/([0-9a-f-]+)/deactivate", page.text)
            assert member_id
            done = await owner.post(
                f"/settings/members/{member_id.group(1)}/deactivate",
                data={"csrf_token": csrf_from(page.text)},
            )
            assert done.status_code == 303
            assert "Deactivated" in text_of((await owner.get("/settings")).text)
            assert (await member.get("/")).status_code == 303


async def test_bad_invitation_links_are_shown_as_errors(browser: httpx.AsyncClient) -> None:
    path = "/invite/not-a-real-invitation-token"
    response = await submit(browser, path, path, {"name": "Eve", "password": PASSWORD})
    assert response.status_code == 404
    assert "does not exist or has expired" in response.text


async def test_api_key_is_shown_once_and_works_against_the_api(web: Web) -> None:
    async with web.client() as owner:
        await sign_up(owner, workspace="Acme Marketing")
        created = await submit(
            owner,
            "/settings",
            "/settings/api-keys",
            {"name": "CRM sync", "scopes": ["workspace:read", "members:read"]},
        )
        assert created.status_code == 200
        found = re.search(r'id="new-api-key"[^>]*value="(ifk_[^"]+)"', created.text)
        assert found
        secret = found.group(1)

        listing = await owner.get("/settings")
        assert secret not in listing.text  # shown once only
        page = text_of(listing.text)
        assert "CRM sync" in page
        assert f"ifk_{secret.split('_')[1]}_" in page  # the prefix identifies it
        assert "members:read" in page

        me = await owner.get("/api/auth/me", headers={"Authorization": f"Bearer {secret}"})
        assert me.status_code == 200
        assert me.json()["via"] == "api_key"
        assert me.json()["workspace"]["name"] == "Acme Marketing"

        key_id = re.search(r"/settings/api-keys/([0-9a-f-]+)/revoke", listing.text)
        assert key_id
        revoked = await owner.post(
            f"/settings/api-keys/{key_id.group(1)}/revoke",
            data={"csrf_token": csrf_from(listing.text)},
        )
        assert revoked.status_code == 303
        after = await owner.get("/api/auth/me", headers={"Authorization": f"Bearer {secret}"})
        assert after.status_code == 401


async def test_api_key_needs_a_scope(browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    response = await submit(browser, "/settings", "/settings/api-keys", {"name": "No scopes"})
    assert response.status_code == 422
    assert 'id="key-scopes-error"' in response.text


async def test_web_session_cookie_is_not_an_api_token(browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    token = browser.cookies["flow_session"]
    me = await browser.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401


async def test_unknown_ids_in_actions_answer_404_pages(browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    response = await submit(browser, "/settings", "/settings/members/not-a-uuid/deactivate", {})
    assert response.status_code == 404
    assert 'role="alert"' in response.text
