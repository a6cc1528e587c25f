"""Analytics write keys on the Settings page (issue 15): owners and admins create one (the key
shown once), see it listed with its use, revoke it; members see no management; another
workspace's key is a 404; bad input is a form error; every action needs the CSRF token. The key
then works against the collection API from its allowed site's pages."""

from __future__ import annotations

import base64
import re
from html import unescape
from urllib.parse import urlsplit

import httpx

from tests.web.browsing import PASSWORD, Web, csrf_from, sign_up, submit, text_of

SITE = "https://shop.example.com"
_SECRET = re.compile(r'id="new-write-key"[^>]*value="(wk_[^"]+)"')
_REVOKE = re.compile(r"/settings/write-keys/([0-9a-f-]+)/revoke")


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


async def create(
    client: httpx.AsyncClient, name: str = "Shop", origins: str = SITE
) -> httpx.Response:
    return await submit(
        client, "/settings", "/settings/write-keys", {"name": name, "allowed_origins": origins}
    )


async def created_key(client: httpx.AsyncClient, name: str = "Shop", origins: str = SITE) -> str:
    response = await create(client, name, origins)
    assert response.status_code == 200, response.text
    found = _SECRET.search(response.text)
    assert found, "the new key is shown after creating it"
    return found.group(1)


async def track(client: httpx.AsyncClient, key: str, origin: str | None = SITE) -> httpx.Response:
    headers = basic(key) | ({"Origin": origin} if origin else {})
    return await client.post(
        "/api/analytics/track", json={"userId": "u1", "event": "Signed up"}, headers=headers
    )


def write_keys_section(html: str) -> str:
    start = html.index('id="write-keys-title"')
    return html[start : html.index("</section>", html.index("send-events-title"))]


async def join_as_member(owner: httpx.AsyncClient, member: httpx.AsyncClient) -> None:
    invited = await submit(
        owner, "/settings", "/settings/invitations", {"email": "mia@example.com", "role": "member"}
    )
    found = re.search(r'id="invitation-link"[^>]*value="([^"]+)"', invited.text)
    assert found
    path = urlsplit(unescape(found.group(1))).path
    joined = await submit(member, path, path, {"name": "Mia Member", "password": PASSWORD})
    assert joined.status_code == 303


async def test_a_key_is_shown_once_listed_used_and_revoked(web: Web) -> None:
    async with web.client() as owner:
        await sign_up(owner)
        secret = await created_key(owner, "Shop site", f"{SITE}\n\nHTTPS://*.Example.org")

        listing = await owner.get("/settings")
        assert secret not in listing.text  # shown once only
        section = text_of(write_keys_section(listing.text))
        assert "Shop site" in section
        assert secret[:10] in section  # the prefix identifies it
        assert SITE in section
        assert "https://*.example.org" in section
        assert "Never" in section
        assert "Active" in section

        sent = await track(owner, secret)
        assert sent.status_code == 200, sent.text
        assert sent.headers["access-control-allow-origin"] == SITE
        used = text_of(write_keys_section((await owner.get("/settings")).text))
        assert "Never" not in used  # last used is shown

        key_id = _REVOKE.search(listing.text)
        assert key_id
        revoked = await owner.post(
            f"/settings/write-keys/{key_id.group(1)}/revoke",
            data={"csrf_token": csrf_from(listing.text)},
        )
        assert revoked.status_code == 303
        after = await owner.get(revoked.headers["location"])
        assert "The write key was revoked" in text_of(after.text)
        assert "Revoked" in text_of(write_keys_section(after.text))
        assert not _REVOKE.search(after.text)  # nothing left to revoke
        assert (await track(owner, secret)).status_code == 401


async def test_the_page_shows_how_to_send_events(browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    page = await browser.get("/settings")
    section = write_keys_section(page.text)
    assert "/api/analytics/track" in section
    assert "-u &#39;&lt;write key&gt;:&#39;" in section or "-u '&lt;write key&gt;:'" in section
    assert 'btoa("&lt;write key&gt;:")' in section
    for field in ("write-key-name", "write-key-allowed_origins", "write-key-curl"):
        assert f'<label for="{field}"' in section, field


async def test_bad_input_is_shown_next_to_the_fields(browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    response = await create(browser, name="", origins="shop.example.com/path")
    assert response.status_code == 422
    assert 'role="alert"' in response.text
    for field in ("write-key-name", "write-key-allowed_origins"):
        assert f'id="{field}-error"' in response.text, field
        assert re.search(rf'id="{field}"[^>]*aria-describedby="[^"]*{field}-error"', response.text)
    error = re.search(r'id="write-key-allowed_origins-error">([^<]+)<', response.text)
    assert error
    assert "https://" in unescape(error.group(1))
    assert "shop.example.com/path</textarea>" in response.text  # kept for correcting
    assert not _SECRET.search(response.text)
    assert "No write keys yet" in text_of(response.text)  # nothing was created

    too_many = "\n".join(f"https://s{index}.example.com" for index in range(21))
    refused = await create(browser, origins=too_many)
    assert refused.status_code == 422
    assert 'id="write-key-allowed_origins-error"' in refused.text


async def test_members_see_no_management_and_are_refused(web: Web) -> None:
    async with web.client() as owner, web.client() as member:
        await sign_up(owner)
        await created_key(owner)
        key_id = _REVOKE.search((await owner.get("/settings")).text)
        assert key_id
        await join_as_member(owner, member)

        page = await member.get("/settings")
        assert page.status_code == 200
        assert "/settings/write-keys" not in page.text
        assert "Only admins and owners can manage them" in text_of(page.text)

        token = csrf_from(page.text)
        created = await member.post(
            "/settings/write-keys", data={"csrf_token": token, "name": "Mine"}
        )
        revoked = await member.post(
            f"/settings/write-keys/{key_id.group(1)}/revoke", data={"csrf_token": token}
        )
        for response in (created, revoked):
            assert response.status_code == 403
            assert 'role="alert"' in response.text
            assert not _SECRET.search(response.text)
        assert "Active" in text_of(write_keys_section((await owner.get("/settings")).text))


async def test_another_workspaces_key_is_not_found(web: Web) -> None:
    async with web.client() as owner, web.client() as stranger:
        await sign_up(owner)
        secret = await created_key(owner)
        key_id = _REVOKE.search((await owner.get("/settings")).text)
        assert key_id
        await sign_up(stranger, email="eve@example.net", workspace="Eve Inc")

        theirs = await stranger.get("/settings")
        assert secret[:10] not in theirs.text  # each workspace lists its own keys
        refused = await stranger.post(
            f"/settings/write-keys/{key_id.group(1)}/revoke",
            data={"csrf_token": csrf_from(theirs.text)},
        )
        assert refused.status_code == 404
        assert 'role="alert"' in refused.text
        malformed = await stranger.post(
            "/settings/write-keys/not-a-uuid/revoke", data={"csrf_token": csrf_from(theirs.text)}
        )
        assert malformed.status_code == 404
        assert (await track(owner, secret)).status_code == 200  # still active


async def test_actions_need_the_csrf_token(browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    created = await browser.post("/settings/write-keys", data={"name": "No token"})
    assert created.status_code == 403
    assert not _SECRET.search(created.text)
    await created_key(browser)
    listing = await browser.get("/settings")
    key_id = _REVOKE.search(listing.text)
    assert key_id
    forged = await browser.post(
        f"/settings/write-keys/{key_id.group(1)}/revoke", data={"csrf_token": "forged"}
    )
    assert forged.status_code == 403
    section = text_of(write_keys_section((await browser.get("/settings")).text))
    assert "No token" not in section
    assert "Active" in section
