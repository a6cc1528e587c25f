"""End to end: a real server process and Debian's headless Chromium, driven by Playwright.

Sign up through the form, sign out, sign in again with the keyboard only, and check that the
browser never talked to anything but the local server (the product must work offline).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Page, async_playwright

from tests.e2e.servers import running_flow

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
PASSWORD = "correct horse battery"
TIMEOUT_MS = 15_000


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} not found: install Debian's chromium package (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true requires the end-to-end test to run", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    _require_chromium()
    with running_flow(tmp_path) as base_url:  # cwd tmp_path: no stray .env from the checkout
        yield base_url


@dataclass
class Session:
    """A Chromium page, and every URL the browser requested while the test ran."""

    page: Page
    requested: list[str] = field(default_factory=list)


@pytest.fixture
async def browser_session(server: str) -> AsyncIterator[Session]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(base_url=server)
            context.set_default_timeout(TIMEOUT_MS)
            session = Session(page=await context.new_page())
            context.on("request", lambda request: session.requested.append(request.url))
            yield session
        finally:
            await browser.close()


async def _focused(page: Page, expression: str = "id") -> str:
    return str(
        await page.evaluate(f"document.activeElement && document.activeElement.{expression}")
    )


async def test_signup_then_signin_in_a_real_browser(browser_session: Session, server: str) -> None:
    page = browser_session.page
    email = "e2e.owner@example.com"
    workspace = "Northwind Campaigns"

    # Sign up through the form.
    await page.goto("/signup")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("Your name").fill("Nina Northwind")
    await page.get_by_label("Workspace name").fill(workspace)
    await page.get_by_role("button", name="Create workspace").click()
    await page.wait_for_url(f"{server}/")
    assert (await page.get_by_role("heading", level=1).inner_text()).strip() == workspace

    # Sign out.
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(f"{server}/signin")

    # Sign in again with the keyboard only: the skip link comes first, then the email field.
    await page.keyboard.press("Tab")
    assert (await _focused(page, "textContent")).strip() == "Skip to content"
    await page.keyboard.press("Tab")
    assert await _focused(page) == "f-email"
    await page.keyboard.type(email)
    await page.keyboard.press("Tab")
    assert await _focused(page) == "f-password"
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{server}/")
    assert workspace in await page.inner_text("main")

    # Everything the browser fetched (pages, CSS, JS) came from the local server.
    hosts = {urlsplit(url).hostname for url in browser_session.requested}
    assert hosts <= LOOPBACK_HOSTS, f"requests left the machine: {hosts - LOOPBACK_HOSTS}"
    assert any(urlsplit(url).path == "/static/flow.css" for url in browser_session.requested)
