"""Forgot password in the browser (issue 17): the sign-in page's link, the request form that
answers the same for every address, the link from a real SMTP server's inbox, and the clear
page an expired, reused or garbled link gets."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from intuitivus_flow.app import create_app
from intuitivus_flow.auth.models import PasswordResetToken
from intuitivus_flow.config import Settings
from intuitivus_flow.kit import migrations
from tests.alerts_engine.receivers import smtp_receiver
from tests.web.browsing import PASSWORD, Web, csrf_from, sign_up, submit, text_of

EMAIL = "owner@example.com"
NEW_PASSWORD = "a brand new passphrase"
LINK = re.compile(r"https?://[^/\s]+(/reset-password\?token=[\w-]+)")
SAME_ANSWER = "If an account uses"


@pytest.fixture(scope="module")
def mail_server() -> Iterator[tuple[int, list[Message]]]:
    with smtp_receiver() as server:
        yield server


async def _web(tmp_path: Path, **overrides: Any) -> Web:
    settings = Settings(
        env="test",
        data_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/t.db",
        seed_demo=False,
        **overrides,
    )
    app = create_app(settings)
    await migrations.upgrade(app.state.context.engine)
    return Web(app)


@pytest.fixture
async def mailing_web(
    tmp_path: Path, mail_server: tuple[int, list[Message]]
) -> AsyncIterator[tuple[Web, list[Message]]]:
    mail_server[1].clear()
    web = await _web(tmp_path, smtp_host="127.0.0.1", smtp_port=mail_server[0], smtp_starttls=False)
    yield web, mail_server[1]
    await web.app.state.context.close()


def link_in(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    found = LINK.search(payload.decode())
    assert found, payload
    return found.group(1)


async def ask_for_link(browser: httpx.AsyncClient, email: str) -> httpx.Response:
    return await submit(browser, "/forgot-password", "/forgot-password", {"email": email})


async def sign_in_status(web: Web, password: str) -> int:
    async with web.client() as browser:
        answer = await submit(browser, "/signin", "/signin", {"email": EMAIL, "password": password})
        return answer.status_code


async def test_forgotten_password_from_sign_in_to_signed_in(
    mailing_web: tuple[Web, list[Message]],
) -> None:
    web, inbox = mailing_web
    async with web.client() as owner:
        await sign_up(owner, email=EMAIL)
        async with web.client() as stranger:
            signin = await stranger.get("/signin")
            assert 'href="/forgot-password"' in signin.text
            form = await stranger.get("/forgot-password")
            assert form.status_code == 200
            assert "Forgot your password?" in text_of(form.text)

            known = await ask_for_link(stranger, EMAIL)
            unknown = await ask_for_link(stranger, "nobody@example.com")
            assert known.status_code == unknown.status_code == 200
            assert SAME_ANSWER in text_of(known.text)
            assert text_of(known.text).replace(EMAIL, "X") == text_of(unknown.text).replace(
                "nobody@example.com", "X"
            )
            [message] = inbox
            link = link_in(message)

            page = await stranger.get(link)
            assert page.status_code == 200
            # The page's address holds the secret: the site-wide policy keeps it off Referers
            # sent to other sites.
            assert page.headers["referrer-policy"] == "same-origin"
            assert 'autocomplete="new-password"' in page.text
            token = link.split("token=", 1)[1]
            done = await stranger.post(
                "/reset-password",
                data={
                    "csrf_token": csrf_from(page.text),
                    "token": token,
                    "new_password": NEW_PASSWORD,
                },
            )
            assert done.status_code == 303
            assert done.headers["location"] == "/"
            assert (await stranger.get("/settings")).status_code == 200  # signed in

        # The session that was open before the reset is over.
        after = await owner.get("/settings")
        assert after.status_code == 303
        assert after.headers["location"].startswith("/signin")

        reused = await owner.get(link)
        assert reused.status_code == 400
        assert "already used" in text_of(reused.text)
        assert "Ask for a new link" in text_of(reused.text)

    assert await sign_in_status(web, PASSWORD) == 401
    assert await sign_in_status(web, NEW_PASSWORD) == 303


async def test_dead_links_get_a_clear_page_and_change_nothing(
    mailing_web: tuple[Web, list[Message]],
) -> None:
    web, inbox = mailing_web
    async with web.client() as browser:
        await sign_up(browser, email=EMAIL)
        await ask_for_link(browser, EMAIL)
        link = link_in(inbox[-1])
        token = link.split("token=", 1)[1]

        for garbled in ("/reset-password", "/reset-password?token=nope", link + "x"):
            page = await browser.get(garbled)
            assert page.status_code == 400
            assert "not valid" in text_of(page.text)

        short = await browser.post(
            "/reset-password",
            data={
                "csrf_token": csrf_from((await browser.get(link)).text),
                "token": token,
                "new_password": "short",
            },
        )
        assert short.status_code == 422
        assert "at least 10 characters" in text_of(short.text)

        async with web.app.state.context.sessions.begin() as session:
            await session.execute(
                update(PasswordResetToken).values(expires_at=datetime(2020, 1, 1, tzinfo=UTC))
            )
        expired = await browser.get(link)
        assert expired.status_code == 400
        assert "expired" in text_of(expired.text)
        form = await browser.get("/forgot-password")
        posted = await browser.post(
            "/reset-password",
            data={
                "csrf_token": csrf_from(form.text),
                "token": token,
                "new_password": NEW_PASSWORD,
            },
        )
        assert posted.status_code == 400
        assert "expired" in text_of(posted.text)
    assert await sign_in_status(web, PASSWORD) == 303


async def test_without_mail_the_page_tells_how_to_configure_it(tmp_path: Path) -> None:
    web = await _web(tmp_path)
    try:
        async with web.client() as browser:
            await sign_up(browser, email=EMAIL)
            sent = text_of((await ask_for_link(browser, EMAIL)).text)
            assert SAME_ANSWER in sent
            assert "FLOW_SMTP_HOST" in sent
            assert "intuitivus-flow users reset-password" in sent
    finally:
        await web.app.state.context.close()
