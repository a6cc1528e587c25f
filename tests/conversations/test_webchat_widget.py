"""The embeddable widget as the app serves it: the script (size budget, caching, loadable from
other sites) and the Channels page's snippet and allowed-origins field, on both engines."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from intuitivus_flow.conversations.models import ConversationSettings
from intuitivus_flow.web.channel_pages import WIDGET_SCRIPT
from tests.web.browsing import Web, sign_up, submit, text_of

PUBLIC_URL = "https://flow.agency.example"
SCRIPT_BUDGET_BYTES = 30 * 1024


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"public_url": PUBLIC_URL + "/"}


@pytest.fixture
def web(app: Any) -> Web:
    return Web(app)


@pytest.fixture
async def browser(web: Web) -> AsyncIterator[httpx.AsyncClient]:
    async with web.client() as client:
        yield client


class TestScript:
    def test_it_stays_within_its_size_budget(self) -> None:
        size = len(WIDGET_SCRIPT.read_bytes())
        assert 2_000 < size < SCRIPT_BUDGET_BYTES, f"widget/v1.js is {size} bytes"

    def test_it_loads_nothing_else(self) -> None:
        # Dependency-free: no import, no other script, no stylesheet, nothing but its own API.
        source = WIDGET_SCRIPT.read_text()
        for loader in ("import ", "import(", 'createElement("script")', "<link", "XMLHttpRequest"):
            assert loader not in source

    async def test_it_is_served_cacheable_and_loadable_from_other_sites(
        self, browser: httpx.AsyncClient
    ) -> None:
        response = await browser.get("/widget/v1.js", headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/javascript; charset=utf-8"
        assert response.content == WIDGET_SCRIPT.read_bytes()  # httpx decoded the gzip
        assert response.headers["content-encoding"] == "gzip"
        assert "max-age=86400" in response.headers["cache-control"]
        assert response.headers["cross-origin-resource-policy"] == "cross-origin"
        assert len(gzip.compress(response.content)) < SCRIPT_BUDGET_BYTES / 4
        etag = response.headers["etag"]
        again = await browser.get("/widget/v1.js", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""


class TestChannelsPage:
    async def test_the_snippet_names_the_public_address_and_the_widget(
        self, web: Web, browser: httpx.AsyncClient
    ) -> None:
        await sign_up(browser)
        page = await browser.get("/channels")
        async with web.app.state.context.sessions() as session:
            key = (await session.execute(select(ConversationSettings))).scalars().one().widget_key
        snippet = (
            f"&lt;script src=&#34;{PUBLIC_URL}/widget/v1.js&#34; data-widget-key=&#34;{key}&#34; "
            "data-title=&#34;Chat with us&#34; async&gt;&lt;/script&gt;"
        )
        assert snippet in page.text, page.text
        assert 'data-copy="widget-snippet"' in page.text
        assert "None yet" in text_of(page.text)  # no site allowed until one is added

    async def test_allowed_sites_are_saved_normalised(
        self, web: Web, browser: httpx.AsyncClient
    ) -> None:
        await sign_up(browser)
        saved = await submit(
            browser,
            "/channels",
            "/channels/settings",
            {
                "default_agent_id": "",
                "widget_enabled": "on",
                "widget_allowed_origins": "HTTPS://Shop.Example.com/\r\n\r\nhttps://*.example.org\r\n",
            },
        )
        assert saved.status_code == 303, saved.text
        page = await browser.get(saved.headers["location"])
        assert "Allowed sites https://shop.example.com , https://*.example.org" in text_of(
            page.text
        )
        async with web.app.state.context.sessions() as session:
            settings = (await session.execute(select(ConversationSettings))).scalars().one()
            assert settings.widget_allowed_origins == [
                "https://shop.example.com",
                "https://*.example.org",
            ]

    async def test_a_bad_site_is_shown_next_to_the_field_and_nothing_changes(
        self, web: Web, browser: httpx.AsyncClient
    ) -> None:
        await sign_up(browser)
        fields = {"default_agent_id": "", "widget_enabled": "on"}
        await submit(
            browser,
            "/channels",
            "/channels/settings",
            {**fields, "widget_allowed_origins": "https://shop.example.com"},
        )
        refused = await submit(
            browser,
            "/channels",
            "/channels/settings",
            {**fields, "widget_allowed_origins": "https://shop.example.com/contact"},
        )
        assert refused.status_code == 422
        assert 'id="settings-widget_allowed_origins-error"' in refused.text
        assert "has a path, query or fragment" in text_of(refused.text)
        assert "https://shop.example.com/contact</textarea>" in refused.text  # kept for fixing
        async with web.app.state.context.sessions() as session:
            settings = (await session.execute(select(ConversationSettings))).scalars().one()
            assert settings.widget_allowed_origins == ["https://shop.example.com"]
