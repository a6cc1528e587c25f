"""Paying an open invoice from the Billing page (issue 17): the operators' desk without Stripe,
Stripe Checkout (a local server speaking its wire format) with it, and a clear status after."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from intuitivus_flow.app import create_app
from intuitivus_flow.config import Settings
from intuitivus_flow.kit import migrations
from tests.billing.stripe_server import API_KEY, RunningStripe, serve_stripe
from tests.helpers import PASSWORD, Account, invite_and_join
from tests.web.browsing import Web, csrf_from, sign_up, submit, text_of

PAY_FORM = re.compile(r'action="(/billing/invoices/[0-9a-f-]+/pay)"')


async def _web(tmp_path: Path, **overrides: Any) -> Web:
    settings = Settings(
        env="test",
        data_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/t.db",
        seed_demo=False,
        public_url="https://flow.example.com",
        **overrides,
    )
    app = create_app(settings)
    await migrations.upgrade(app.state.context.engine)
    return Web(app)


@pytest.fixture
async def desk_web(tmp_path: Path) -> AsyncIterator[Web]:
    web = await _web(tmp_path)
    yield web
    await web.app.state.context.close()


@pytest.fixture
def stripe() -> Iterator[RunningStripe]:
    yield from serve_stripe()


@pytest.fixture
async def stripe_web(tmp_path: Path, stripe: RunningStripe) -> AsyncIterator[Web]:
    web = await _web(tmp_path, stripe_api_key=API_KEY, stripe_api_base=stripe.url)
    yield web
    await web.app.state.context.close()


async def open_invoice(browser: httpx.AsyncClient) -> tuple[str, str]:
    """Sign up, choose a paid plan; the Billing page and its Pay form's action."""
    await sign_up(browser)
    chosen = await submit(browser, "/billing", "/billing/plan", {"plan": "pro"})
    assert chosen.status_code == 303
    page = (await browser.get("/billing")).text
    found = PAY_FORM.search(page)
    assert found, "an open invoice has a Pay button"
    return page, found.group(1)


async def click(browser: httpx.AsyncClient, page: str, action: str) -> httpx.Response:
    return await browser.post(action, data={"csrf_token": csrf_from(page)})


async def test_without_stripe_the_payment_waits_for_the_operator(desk_web: Web) -> None:
    async with desk_web.client() as browser:
        page, action = await open_invoice(browser)
        assert "Pay invoice INV-" in page
        paid = await click(browser, page, action)
        assert paid.status_code == 303
        assert paid.headers["location"] == "/billing?done=pay_pending"
        after = text_of((await browser.get(paid.headers["location"])).text)
        assert "waits for an operator" in after
        assert "Payment in progress" in after
        assert "(collected by an operator)" in after

        # A double click (the second post of the same page) records nothing new.
        twice = await click(browser, page, action)
        assert twice.headers["location"] == "/billing?done=pay_waiting"
    async with desk_web.client() as api:
        owner_tokens = await api.post(
            "/api/auth/login", json={"email": "owner@example.com", "password": PASSWORD}
        )
        headers = {"Authorization": f"Bearer {owner_tokens.json()['access_token']}"}
        ledger = (await api.get("/api/billing/payments", headers=headers)).json()
        assert ledger["total"] == 1


async def test_with_stripe_the_payer_goes_to_checkout_and_comes_back_paid(
    stripe_web: Web, stripe: RunningStripe
) -> None:
    async with stripe_web.client() as browser:
        page, action = await open_invoice(browser)
        sent = await click(browser, page, action)
        assert sent.status_code == 303
        [session_id] = stripe.state.sessions
        assert sent.headers["location"] == stripe.state.sessions[session_id]["url"]
        return_path = stripe.state.sessions[session_id]["success_url"].removeprefix(
            "https://flow.example.com"
        )

        # Back without paying (Checkout's "back" link): nothing changed, say so.
        not_yet = await browser.get(return_path)
        assert not_yet.headers["location"] == "/billing?done=pay_open"
        assert "not completed" in text_of((await browser.get(not_yet.headers["location"])).text)
        # Pay again: the same Checkout page, not a second session.
        again = await click(browser, (await browser.get("/billing")).text, action)
        assert again.headers["location"] == sent.headers["location"]
        assert len(stripe.state.sessions) == 1

        stripe.state.pay(session_id)
        back = await browser.get(return_path)
        assert back.headers["location"] == "/billing?done=paid"
        after = await browser.get(back.headers["location"])
        text = text_of(after.text)
        assert "the payment succeeded and the invoice is paid" in text
        assert PAY_FORM.search(after.text) is None  # nothing left to pay


def form_targets(response: httpx.Response) -> list[str]:
    policy = response.headers["content-security-policy"]
    [directive] = [part.split()[1:] for part in policy.split(";") if "form-action" in part]
    return directive


async def test_the_billing_page_lets_its_forms_lead_to_stripe_checkout_only_with_stripe(
    desk_web: Web, stripe_web: Web
) -> None:
    """Browsers apply form-action to the redirect answering a form: without Stripe's origin in
    the Billing page's policy, the payer never reaches Checkout (found by the journey test)."""
    async with stripe_web.client() as browser:
        await sign_up(browser)
        assert form_targets(await browser.get("/billing")) == [
            "'self'",
            "https://checkout.stripe.com",
        ]
        assert form_targets(await browser.get("/contacts")) == ["'self'"]
    async with desk_web.client() as browser:
        await sign_up(browser)
        assert form_targets(await browser.get("/billing")) == ["'self'"]


async def test_members_cannot_pay_and_bad_ids_say_so(desk_web: Web) -> None:
    async with desk_web.client() as browser:
        page, action = await open_invoice(browser)
        garbled = await click(browser, page, "/billing/invoices/not-an-id/pay")
        assert garbled.status_code == 404
        assert "Invoice not found" in text_of(garbled.text)
    async with desk_web.client() as api:
        owner = await api.post(
            "/api/auth/login", json={"email": "owner@example.com", "password": PASSWORD}
        )
        tokens = owner.json()
        member = await invite_and_join(
            api, Account("owner@example.com", tokens["access_token"], tokens["refresh_token"])
        )
    async with desk_web.client() as browser:
        await submit(browser, "/signin", "/signin", {"email": member.email, "password": PASSWORD})
        refused = await browser.post(
            action, data={"csrf_token": csrf_from((await browser.get("/settings")).text)}
        )
        assert refused.status_code == 403
