"""The Billing web page: owners and admins see plan, usage, invoices and payments."""

from __future__ import annotations

import httpx

from tests.helpers import PASSWORD, invite_and_join, register
from tests.web.browsing import Web, csrf_from, sign_up, submit, text_of
from tests.web.conftest import browser, web

__all__ = ["browser", "web"]  # the web fixtures: an app on its own SQLite file


async def test_owner_sees_and_changes_the_plan(browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    page = await browser.get("/billing")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Plan: Free" in text
    assert "No invoices yet." in text
    assert 'href="/billing"' in (await browser.get("/")).text
    assert "<meter" in page.text
    changed = await browser.post(
        "/billing/plan", data={"plan": "starter", "csrf_token": csrf_from(page.text)}
    )
    assert changed.status_code == 303
    after = await browser.get(changed.headers["location"])
    assert "Plan: Starter" in text_of(after.text)
    assert "Your plan was changed." in after.text
    assert "INV-" in after.text
    bad = await browser.post(
        "/billing/plan", data={"plan": "gold", "csrf_token": csrf_from(after.text)}
    )
    assert bad.status_code == 422
    assert "Choose one of the plans" in bad.text
    wrong = await browser.post(
        "/billing/licences",
        data={"licence_key": "IFL-NOPE-NOPE-NOPE", "csrf_token": csrf_from(after.text)},
    )
    assert wrong.status_code == 422
    assert "not valid" in wrong.text
    no_csrf = await browser.post("/billing/plan", data={"plan": "pro"})
    assert no_csrf.status_code == 403


async def test_members_are_refused(web: Web) -> None:
    async with web.client() as api:
        owner = await register(api)
        member = await invite_and_join(api, owner)
    async with web.client() as browser:
        signed_in = await submit(
            browser, "/signin", "/signin", {"email": member.email, "password": PASSWORD}
        )
        assert signed_in.status_code == 303
        page = await browser.get("/billing")
        assert page.status_code == 403
        assert 'href="/billing"' not in (await browser.get("/")).text
        refused = await browser.post(
            "/billing/plan",
            data={"plan": "pro", "csrf_token": csrf_from((await browser.get("/settings")).text)},
        )
        assert refused.status_code == 403
