"""Editing an agent in the web UI (issue 17): every setting, with validation, in one form."""

from __future__ import annotations

import re

import httpx

from tests.web.browsing import Web, sign_up, submit, text_of

FIELDS = {
    "name": "Closer",
    "role": "Sales assistant",
    "system_prompt": "Be brief.",
    "provider": "",
    "model": "",
    "temperature": "0.7",
    "max_tokens": "1024",
}


async def _agent(browser: httpx.AsyncClient) -> str:
    created = await submit(browser, "/agents", "/agents", {**FIELDS, "provider": "offline"})
    assert created.status_code == 303, text_of(created.text)
    return str(created.headers["location"]).split("?")[0]


def _selected(html: str, name: str) -> str:
    found = re.search(rf'<select id="edit-{name}" name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert found, name
    chosen = re.search(r'<option value="([^"]*)" selected>', found.group(1))
    return chosen.group(1) if chosen else ""


async def test_every_setting_is_edited_and_shown(web: Web, browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    url = await _agent(browser)
    page = (await browser.get(url)).text
    assert _selected(page, "provider") == "offline"
    assert _selected(page, "status") == "active"

    changes = {
        "name": "Closer 2",
        "role": "Support",
        "system_prompt": "Answer in Portuguese.\nNever promise refunds.",
        "provider": "",  # back to the workspace's keys in priority order
        "model": "gpt-4o-mini",
        "temperature": "0.2",
        "max_tokens": "300",
        "status": "paused",
    }
    saved = await submit(browser, url, f"{url}/edit", changes)
    assert saved.status_code == 303, text_of(saved.text)
    after = await browser.get(saved.headers["location"])
    text = text_of(after.text)
    assert "The agent's settings were saved." in text
    for shown in ("Closer 2", "Support", "Never promise refunds.", "any / gpt-4o-mini", "300"):
        assert shown in text
    assert _selected(after.text, "provider") == ""
    assert _selected(after.text, "status") == "paused"

    api = await browser.get("/agents")
    assert "Closer 2" in text_of(api.text)


async def test_invalid_settings_are_refused_with_the_field_named_and_nothing_saved(
    web: Web, browser: httpx.AsyncClient
) -> None:
    await sign_up(browser)
    url = await _agent(browser)
    refused = await submit(
        browser,
        url,
        f"{url}/edit",
        {**FIELDS, "name": "Renamed", "temperature": "5", "status": "active"},
    )
    assert refused.status_code == 422
    assert 'aria-invalid="true"' in refused.text
    assert "Renamed" in refused.text  # the form keeps what was typed
    empty = await submit(browser, url, f"{url}/edit", {**FIELDS, "name": "", "status": "active"})
    assert empty.status_code == 422

    await submit(browser, url, f"{url}/edit", {**FIELDS, "status": "archived"})
    back = await submit(
        browser, url, f"{url}/edit", {**FIELDS, "name": "Again", "status": "active"}
    )
    assert back.status_code == 422  # archived agents come back through paused only
    assert "cannot become active" in text_of(back.text)
    page = text_of((await browser.get(url)).text)
    assert "Again" not in page  # the settings of the refused form were not kept either
    bogus = await submit(
        browser, url, f"{url}/edit", {**FIELDS, "provider": "nope", "status": "archived"}
    )
    assert bogus.status_code == 422


async def test_another_workspaces_agent_cannot_be_edited(web: Web) -> None:
    async with web.client() as owner, web.client() as stranger:
        await sign_up(owner)
        url = await _agent(owner)
        await sign_up(stranger, email="other@example.com", workspace="Other")
        attempt = await submit(stranger, "/agents", f"{url}/edit", {**FIELDS, "status": "paused"})
        assert attempt.status_code == 404
        assert "Closer" in text_of((await owner.get(url)).text)
