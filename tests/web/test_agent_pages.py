"""The Agents pages: create an agent, store a provider key, run a prompt, read the answer."""

from __future__ import annotations

import httpx

from intuitivus_flow.jobs.embedded import install_handlers
from intuitivus_flow.jobs.worker import Worker
from tests.web.browsing import Web, sign_up, submit, text_of


async def create_agent(browser: httpx.AsyncClient, **fields: str) -> httpx.Response:
    return await submit(
        browser,
        "/agents",
        "/agents",
        {
            "name": "Closer",
            "role": "Sales assistant",
            "system_prompt": "Be brief.",
            "provider": "offline",
            "model": "",
            "temperature": "0.5",
            "max_tokens": "300",
            **fields,
        },
    )


async def test_create_agent_and_run_a_prompt(web: Web, browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    created = await create_agent(browser)
    assert created.status_code == 303
    agent_url = created.headers["location"].split("?")[0]
    queued = await submit(browser, agent_url, f"{agent_url}/tasks", {"prompt": "Hi there"})
    assert queued.status_code == 303
    install_handlers(web.app.state.context)
    assert await Worker(web.app.state.context.sessions).run_until_idle() == 1
    page = text_of((await browser.get(agent_url)).text)
    assert "Succeeded" in page
    assert "[offline provider" in page


async def test_invalid_agent_shows_field_errors(browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    response = await create_agent(browser, name="", temperature="9")
    assert response.status_code == 422
    assert "Please correct" in text_of(response.text) or "at least" in response.text


async def test_status_actions_and_clone(browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    agent_url = (await create_agent(browser)).headers["location"].split("?")[0]
    paused = await submit(browser, agent_url, f"{agent_url}/status", {"status": "paused"})
    assert paused.status_code == 303
    refused = await submit(browser, agent_url, f"{agent_url}/tasks", {"prompt": "x"})
    assert refused.status_code == 422
    assert "activate it" in text_of(refused.text)
    clone = await submit(browser, agent_url, f"{agent_url}/clone", {})
    assert "Closer (copy)" in text_of((await browser.get(clone.headers["location"])).text)


async def test_provider_key_is_stored_masked(browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    added = await submit(
        browser,
        "/agents",
        "/agents/keys",
        {
            "provider": "openai",
            "label": "Main",
            "api_key": "sk-secret-abcd1234",
            "base_url": "",
            "default_model": "gpt-4o-mini",
            "priority": "1",
            "monthly_token_limit": "",
        },
    )
    assert added.status_code == 303
    page = (await browser.get("/agents")).text
    assert "…1234" in page
    assert "sk-secret-abcd1234" not in page


async def test_unknown_agent_is_404(browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    assert (await browser.get("/agents/not-an-id")).status_code == 404
    missing = await browser.get("/agents/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404


async def test_dashboard_page_shows_figures_and_charts(
    web: Web, browser: httpx.AsyncClient
) -> None:
    await sign_up(browser)
    agent_url = (await create_agent(browser)).headers["location"].split("?")[0]
    await submit(browser, agent_url, f"{agent_url}/tasks", {"prompt": "Hi"})
    install_handlers(web.app.state.context)
    await Worker(web.app.state.context.sessions).run_until_idle()
    page = await browser.get("/dashboard")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Active agents 1" in text
    assert "Success rate (24 h) 100 %" in text
    assert page.text.count('<svg class="bars"') >= 3
    assert "agent_task.finished" in text
