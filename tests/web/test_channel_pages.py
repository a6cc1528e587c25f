"""The Channels page: conversation settings, WhatsApp numbers (secrets never shown or echoed),
the webhook instructions, web chat; owners and admins only. On both database engines."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from intuitivus_flow.conversations.models import ConversationSettings, WhatsAppNumber
from intuitivus_flow.identity.roles import Role
from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.users.models import User
from tests.conversations.graph_server import RunningGraph, serve_graph
from tests.web.browsing import Web, csrf_from, sign_up, submit, text_of
from tests.web.test_agent_pages import create_agent


@pytest.fixture(scope="module")
def graph() -> Iterator[RunningGraph]:
    """Meta's Graph API (fake): connecting a number asks it whether the token owns it."""
    yield from serve_graph()


@pytest.fixture
def settings_overrides(graph: RunningGraph) -> dict[str, Any]:
    return {"whatsapp_graph_url": graph.url}


TOKEN = "EAAG-access-token-9f8e7d6c5b4a"
APP_SECRET = "app-secret-0123456789"
VERIFY_TOKEN = "verify-me-please-42"


@pytest.fixture
def web(app: Any) -> Web:
    """The shared app fixture: each test runs on SQLite and on PostgreSQL."""
    return Web(app)


def number_fields(**fields: str) -> dict[str, str]:
    return {
        "phone_number_id": "106540352242922",
        "display_number": "+55 11 91234-5678",
        "access_token": TOKEN,
        "app_secret": APP_SECRET,
        "verify_token": VERIFY_TOKEN,
        "agent_id": "",
        **fields,
    }


async def add_number(browser: httpx.AsyncClient, **fields: str) -> httpx.Response:
    return await submit(browser, "/channels", "/channels/numbers", number_fields(**fields))


async def numbers(web: Web) -> int:
    async with web.app.state.context.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(WhatsAppNumber)) or 0)


def assert_no_secret(html: str) -> None:
    for secret in (TOKEN, APP_SECRET, VERIFY_TOKEN):
        assert secret not in html


async def test_settings_are_shown_and_changed(web: Web, browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    agent_url = (await create_agent(browser, name="Greeter")).headers["location"].split("?")[0]
    agent_id = agent_url.rsplit("/", 1)[1]
    page = await browser.get("/channels")
    assert page.status_code == 200
    assert 'href="/channels" aria-current="page"' in page.text  # in the navigation for owners
    text = text_of(page.text)
    assert "No WhatsApp number is connected yet." in text
    assert "http://127.0.0.1:8000/api/channels/whatsapp/webhook" in text
    assert "set FLOW_PUBLIC_URL" in text  # Meta only calls HTTPS addresses
    assert "Subscribe to messages" in text
    assert "Web-chat widget enabled" in text
    assert "Status Enabled" in text

    saved = await submit(browser, "/channels", "/channels/settings", {"default_agent_id": agent_id})
    assert saved.status_code == 303  # the unticked box turns the widget off
    page = await browser.get(saved.headers["location"])
    assert "The conversation settings were saved." in text_of(page.text)
    assert f'<option value="{agent_id}" selected>Greeter</option>' in page.text
    assert "Disabled" in text_of(page.text)
    async with web.app.state.context.sessions() as session:
        settings = (await session.execute(select(ConversationSettings))).scalars().one()
        assert str(settings.default_agent_id) == agent_id
        assert settings.widget_enabled is False
        widget_key = settings.widget_key
    assert f"/api/webchat/{widget_key}/messages" in text_of(page.text)

    bogus = await submit(
        browser, "/channels", "/channels/settings", {"default_agent_id": "not-an-agent"}
    )
    assert bogus.status_code == 422
    assert 'id="settings-default_agent_id" name="default_agent_id"' in bogus.text
    assert 'aria-invalid="true"' in bogus.text
    cleared = await submit(
        browser, "/channels", "/channels/settings", {"default_agent_id": "", "widget_enabled": "on"}
    )
    assert cleared.status_code == 303
    async with web.app.state.context.sessions() as session:
        settings = (await session.execute(select(ConversationSettings))).scalars().one()
        assert settings.default_agent_id is None
        assert settings.widget_enabled is True


async def test_number_is_added_without_showing_its_secrets_then_removed(
    web: Web, browser: httpx.AsyncClient
) -> None:
    await sign_up(browser)
    added = await add_number(browser)
    assert added.status_code == 303, added.text
    page = await browser.get(added.headers["location"])
    text = text_of(page.text)
    assert "The WhatsApp number was connected." in text
    assert "+55 11 91234-5678 106540352242922 default agent Set Active" in text
    assert_no_secret(page.text)
    assert TOKEN[-4:] not in page.text  # not even the hint: only that it is set
    assert await numbers(web) == 1

    # The same number again: refused next to its field, and no secret typed is sent back.
    again = await add_number(browser)
    assert again.status_code == 409
    assert "already connected" in text_of(again.text)
    assert 'value="106540352242922"' in again.text  # plain fields are kept
    assert_no_secret(again.text)
    invalid = await add_number(browser, phone_number_id="+55 11", access_token="short")
    assert invalid.status_code == 422
    assert 'id="number-phone_number_id" name="phone_number_id"' in invalid.text
    assert "at least 8 characters" in text_of(invalid.text)
    assert_no_secret(invalid.text)
    assert await numbers(web) == 1

    remove_url = page.text.split('action="/channels/numbers/', 1)[1].split('"', 1)[0]
    removed = await submit(browser, "/channels", f"/channels/numbers/{remove_url}", {})
    assert removed.status_code == 303
    after = text_of((await browser.get(removed.headers["location"])).text)
    assert "The WhatsApp number was removed" in after
    assert "No WhatsApp number is connected yet." in after
    assert await numbers(web) == 0
    missing = await submit(
        browser, "/channels", "/channels/numbers/00000000-0000-0000-0000-000000000000/remove", {}
    )
    assert missing.status_code == 404
    assert (
        await submit(browser, "/channels", "/channels/numbers/nope/remove", {})
    ).status_code == (404)


async def test_the_connected_number_answers_metas_handshake(
    web: Web, browser: httpx.AsyncClient
) -> None:
    await sign_up(browser)
    await add_number(browser)
    async with web.client() as meta:
        response = await meta.get(
            "/api/channels/whatsapp/webhook",
            params={
                "hub.mode": "subscribe",
                "hub.verify_token": VERIFY_TOKEN,
                "hub.challenge": "1158201444",
            },
        )
    assert response.status_code == 200
    assert response.text == "1158201444"


async def test_numbers_of_other_workspaces_cannot_be_removed(
    web: Web, browser: httpx.AsyncClient
) -> None:
    async with web.client() as stranger:
        await sign_up(stranger, email="rival@example.com", workspace="Rival Inc")
        await add_number(stranger)
        page = (await stranger.get("/channels")).text
        number_id = page.split('action="/channels/numbers/', 1)[1].split("/", 1)[0]
    await sign_up(browser)
    assert "106540352242922" not in (await browser.get("/channels")).text
    refused = await submit(browser, "/channels", f"/channels/numbers/{number_id}/remove", {})
    assert refused.status_code == 404
    assert await numbers(web) == 1


async def test_members_are_refused(web: Web, browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    token = csrf_from((await browser.get("/channels")).text)
    async with unit_of_work(web.app.state.context.sessions) as session:
        owner = (
            (await session.execute(select(User).where(User.email == "owner@example.com")))
            .scalars()
            .one()
        )
        owner.role = Role.member
    page = await browser.get("/channels")
    assert page.status_code == 403
    assert "available to workspace owners and admins" in text_of(page.text)
    assert 'href="/channels"' not in page.text
    posted = await browser.post("/channels/numbers", data={"csrf_token": token, **number_fields()})
    assert posted.status_code == 403
    assert_no_secret(posted.text)
    settings = await browser.post(
        "/channels/settings", data={"csrf_token": token, "default_agent_id": ""}
    )
    assert settings.status_code == 403
    assert await numbers(web) == 0
