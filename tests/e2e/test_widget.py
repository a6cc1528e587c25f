"""End to end: the web-chat widget on another site's page, in Debian's headless Chromium.

The app runs as a real server; a second loopback port serves a customer's page (another origin)
that pastes the snippet from the Channels page. A visitor chats there and sees the agent's reply
appear; the same snippet on a site the widget does not allow gets nothing through, and nothing
is written. Screenshots go to $FLOW_E2E_ARTIFACTS (else the test's temporary folder).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.e2e.servers import running_flow
from tests.e2e.test_signup_signin import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    TIMEOUT_MS,
    _require_chromium,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EMAIL = "widget.owner@example.com"
SITE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Northwind Bikes</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>Northwind Bikes</h1><p>City bikes, repaired while you wait.</p></main>
{snippet}
</body></html>
"""


@dataclass
class Flow:
    url: str
    api: httpx.Client
    headers: dict[str, str]


@dataclass
class Site:
    url: str
    folder: Path


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flow]:
    """The app, with its public address set to where it really listens, an owner and an agent."""
    _require_chromium()
    folder = tmp_path_factory.mktemp("flow")
    with running_flow(folder) as url, httpx.Client(base_url=url, timeout=30) as api:
        registered = api.post(
            "/api/auth/register",
            json={
                "email": EMAIL,
                "password": PASSWORD,
                "name": "Nina",
                "workspace_name": "Northwind",
            },
        )
        assert registered.status_code == 201, registered.text
        headers = {"Authorization": f"Bearer {registered.json()['access_token']}"}
        agent = api.post(
            "/api/agents",
            json={"name": "Ana", "role": "Support", "system_prompt": "Be brief."},
            headers=headers,
        )
        assert agent.status_code == 201, agent.text
        yield Flow(url, api, headers)


def _serve_site(folder: Path) -> Iterator[Site]:
    """A customer's static site on its own loopback port: another origin than the app."""
    folder.mkdir(parents=True, exist_ok=True)
    handler = partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Site(f"http://127.0.0.1:{server.server_address[1]}", folder)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        del format, args


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from _serve_site(tmp_path_factory.mktemp("shop"))


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from _serve_site(tmp_path_factory.mktemp("stranger"))


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


def artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("FLOW_E2E_ARTIFACTS", tmp_path)) / "widget"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def snippet_from_channels_page(browser: Browser, flow: Flow, site: Site) -> str:
    """The owner allows the shop's origin and copies the snippet, as a person would."""
    context = await browser.new_context(base_url=flow.url)
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    await page.goto("/signin")
    await page.get_by_label("Email").fill(EMAIL)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{flow.url}/")
    await page.goto("/channels")
    await page.get_by_label("Sites allowed to show the web-chat widget").fill(site.url)
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.get_by_text("The conversation settings were saved.")).to_be_visible()
    snippet = await page.get_by_label("Web-chat snippet").input_value()
    await context.close()
    assert snippet.startswith(f'<script src="{flow.url}/widget/v1.js" data-widget-key="')
    return snippet


async def open_site(browser: Browser, site: Site, **options: Any) -> Page:
    context = await browser.new_context(**options)
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    await page.goto(f"{site.url}/index.html")
    return page


def conversations(flow: Flow) -> list[dict[str, Any]]:
    response = flow.api.get("/api/conversations", headers=flow.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_a_visitor_chats_on_an_allowed_site_and_a_stranger_gets_nothing(
    browser: Browser, flow: Flow, shop: Site, stranger: Site, tmp_path: Path
) -> None:
    shots = artifacts(tmp_path)
    snippet = await snippet_from_channels_page(browser, flow, shop)
    for site in (shop, stranger):
        (site.folder / "index.html").write_text(SITE_PAGE.format(snippet=snippet))

    # On the allowed site: open the chat with the keyboard, send, see the agent's reply live.
    page = await open_site(browser, shop, viewport={"width": 1280, "height": 800})
    launcher = page.get_by_role("button", name="Chat with us")
    await launcher.focus()
    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Chat with us")
    await expect(dialog).to_be_visible()
    message = page.get_by_label("Your message")
    await expect(message).to_be_focused()
    await page.keyboard.type("Do you repair e-bikes?")
    await page.keyboard.press("Enter")
    log = page.get_by_role("log", name="Messages")
    await expect(log).to_contain_text("Do you repair e-bikes?")
    await expect(log).to_contain_text("[offline provider", timeout=30_000)
    await page.screenshot(path=str(shots / "widget-desktop.png"))

    # Modal: Tab goes round the panel's own controls; Escape closes and returns to the button.
    for _ in range(4):
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.id === 'intuitivus-flow-chat'"), (
            "focus left the chat panel"
        )
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(launcher).to_be_focused()

    # The visitor is kept in this browser: a reload shows the same conversation.
    visitor = await page.evaluate(
        "Object.keys(localStorage).filter(k => k.startsWith('intuitivus-flow-chat:'))"
        ".map(k => JSON.parse(localStorage.getItem(k)).visitor)[0]"
    )
    assert re.fullmatch(r"v-[0-9a-f-]{36}", visitor)
    await page.reload()
    await page.get_by_role("button", name="Chat with us").click()
    await expect(page.get_by_role("log", name="Messages")).to_contain_text("Do you repair e-bikes?")
    [conversation] = conversations(flow)
    assert conversation["channel"] == "webchat"

    # A phone-sized screen: the open panel fills it.
    phone = await open_site(
        browser, shop, viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True
    )
    await phone.get_by_role("button", name="Chat with us").click()
    box = await phone.get_by_role("dialog", name="Chat with us").bounding_box()
    assert box is not None
    assert box["width"] == 375
    await phone.screenshot(path=str(shots / "widget-phone.png"))

    # The same snippet on a site the widget does not allow: nothing gets through.
    refused = await open_site(browser, stranger, viewport={"width": 1280, "height": 800})
    await refused.get_by_role("button", name="Chat with us").click()
    await refused.get_by_label("Your message").fill("Let me in")
    await refused.get_by_role("button", name="Send").click()
    await expect(refused.get_by_role("status")).to_contain_text("unavailable")
    await expect(refused.get_by_role("log", name="Messages")).not_to_contain_text("Let me in")
    await refused.screenshot(path=str(shots / "widget-refused.png"))
    assert len(conversations(flow)) == 1
    contacts = flow.api.get("/api/contacts", headers=flow.headers).json()
    assert contacts["total"] == 1
