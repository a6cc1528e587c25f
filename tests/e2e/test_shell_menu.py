"""The app shell in real Chromium: on a phone the sidebar hides behind a menu button that the
keyboard can open and close (Escape returns focus to it), that works without JavaScript too;
on a wide screen the sidebar is simply there."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, ViewportSize, async_playwright

from tests.e2e.test_signup_signin import (  # noqa: F401 (fixtures)
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    TIMEOUT_MS,
    Session,
    browser_session,
    server,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PHONE = ViewportSize(width=390, height=844)
DESKTOP = ViewportSize(width=1366, height=900)


async def _focused_text(page: Page) -> str:
    return str(await page.evaluate("document.activeElement.textContent")).strip()


async def _sign_up(page: Page, base_url: str) -> None:
    await page.goto("/signup")
    await page.get_by_label("Email").fill("menu.owner@example.com")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("Your name").fill("Mona Menu")
    await page.get_by_label("Workspace name").fill("Menu Test")
    await page.get_by_role("button", name="Create workspace").click()
    await page.wait_for_url(f"{base_url}/")


async def test_the_menu_on_a_phone_and_on_a_wide_screen(
    browser_session: Session,  # noqa: F811
    server: str,  # noqa: F811
) -> None:
    page = browser_session.page
    await page.set_viewport_size(PHONE)
    await _sign_up(page, server)

    menu = page.get_by_role("button", name="Menu")
    agents = page.locator('nav[aria-label="Main"] a[href="/agents"]')
    assert await menu.get_attribute("aria-expanded") == "false"
    assert not await agents.is_visible()

    # Keyboard only: skip link, brand, then the menu button; Enter opens, Tab enters the menu.
    await page.keyboard.press("Tab")
    assert await _focused_text(page) == "Skip to content"
    await page.keyboard.press("Tab")
    assert await _focused_text(page) == "Intuitivus Flow"
    await page.keyboard.press("Tab")
    assert await _focused_text(page) == "Menu"
    await page.keyboard.press("Enter")
    assert await menu.get_attribute("aria-expanded") == "true"
    assert await agents.is_visible()
    await page.keyboard.press("Tab")
    assert await _focused_text(page) == "Overview"
    # Escape closes the menu and gives focus back to its button.
    await page.keyboard.press("Escape")
    assert await menu.get_attribute("aria-expanded") == "false"
    assert not await agents.is_visible()
    assert await _focused_text(page) == "Menu"

    await menu.click()
    await agents.click()
    await page.wait_for_url(f"{server}/agents")
    assert await agents.get_attribute("aria-current") == "page"
    assert not await agents.is_visible()  # a new page starts with the menu closed

    # Wide screen: the sidebar is always shown and the button is gone.
    await page.set_viewport_size(DESKTOP)
    assert await agents.is_visible()
    assert not await menu.is_visible()
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(f"{server}/signin")


async def test_the_menu_without_javascript(server: str) -> None:  # noqa: F811
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(
                base_url=server, viewport=PHONE, java_script_enabled=False
            )
            context.set_default_timeout(TIMEOUT_MS)
            page = await context.new_page()
            await _sign_up(page, server)
            agents = page.locator('nav[aria-label="Main"] a[href="/agents"]')
            assert not await agents.is_visible()
            # The scripted button stays hidden; the labelled checkbox is the control.
            assert await page.get_by_role("button", name="Menu").count() == 0
            toggle = page.get_by_role("checkbox", name="Menu")
            await page.locator("label[for=shell-toggle]").click()
            assert await toggle.is_checked()
            assert await agents.is_visible()
            await page.locator("label[for=shell-toggle]").click()
            assert not await agents.is_visible()
        finally:
            await browser.close()
