"""The web sign-in form goes through the same throttles as the API, parallel guesses included."""

from __future__ import annotations

import asyncio

from tests.web.browsing import PASSWORD, Web, csrf_from, sign_up

PARALLEL_GUESSES = 30
ACCOUNT_LIMIT = 5  # FLOW_LOGIN_MAX_FAILURES_PER_ACCOUNT's default


async def test_parallel_wrong_passwords_on_the_form_are_throttled(web: Web) -> None:
    async with web.client() as owner:
        await sign_up(owner, email="owner@example.com")
    async with web.client() as browser:
        token = csrf_from((await browser.get("/signin")).text)
        wrong = {"csrf_token": token, "email": "owner@example.com", "password": "wrong password"}
        responses = await asyncio.gather(
            *(browser.post("/signin", data=wrong) for _ in range(PARALLEL_GUESSES))
        )
        after = await browser.post("/signin", data={**wrong, "password": PASSWORD})

    statuses = [response.status_code for response in responses]
    assert statuses.count(401) == ACCOUNT_LIMIT, statuses
    assert statuses.count(429) == PARALLEL_GUESSES - ACCOUNT_LIMIT, statuses
    throttled = next(response for response in responses if response.status_code == 429)
    assert int(throttled.headers["retry-after"]) > 0
    assert "Too many failed sign-ins" in throttled.text
    assert after.status_code == 429  # the right password waits for the window too
