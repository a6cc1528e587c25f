"""The Agents pages: create an agent, store a provider key, run a prompt, read the answer."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from intuitivus_flow.agents.models import AgentTask
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.task_registry import worker_for
from tests.web.browsing import Web, sign_up, submit, text_of

LIVE_TASKS = re.compile(r'<section[^>]*id="agent-tasks"[^>]*data-live="3"')


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
    # While the task waits, its section asks flow.js to fetch it again; once done, it stops.
    waiting = await browser.get(agent_url)
    assert LIVE_TASKS.search(waiting.text)
    assert "1 task(s) in progress" in text_of(waiting.text)
    assert await worker_for(web.app.state.context).run_until_idle() == 1
    done = await browser.get(agent_url)
    assert 'id="agent-tasks"' in done.text
    assert not LIVE_TASKS.search(done.text)
    page = text_of(done.text)
    assert "Succeeded" in page
    assert "[offline provider" in page
    assert "in progress" not in page


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
    await worker_for(web.app.state.context).run_until_idle()
    page = await browser.get("/dashboard")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Active agents 1" in text
    assert "Success rate (24 h) 100 %" in text
    assert page.text.count('<svg class="bars"') >= 3
    # Recent activity reads as a sentence, not as the event's name.
    assert "A task of agent Closer succeeded" in text
    assert "agent_task.finished" not in text


# --- statistics: on both engines, through the shared `app` fixture (tests/conftest.py) -------


@pytest.fixture
async def engine_browser(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with Web(app).client() as client:
        yield client


async def run_worker(app: Any) -> int:
    return await worker_for(app.state.context).run_until_idle()


async def agent_with_history(app: Any, browser: httpx.AsyncClient) -> str:
    """An agent with two succeeded tasks and one failed (run after the agent was paused)."""
    await sign_up(browser)
    agent_url = (await create_agent(browser)).headers["location"].split("?")[0]
    for prompt in ("First", "Second"):
        await submit(browser, agent_url, f"{agent_url}/tasks", {"prompt": prompt})
    assert await run_worker(app) == 2
    await submit(browser, agent_url, f"{agent_url}/tasks", {"prompt": "Third"})
    await submit(browser, agent_url, f"{agent_url}/status", {"status": "paused"})
    assert await run_worker(app) == 1
    return agent_url


async def task_rows(app: Any, agent_url: str) -> list[AgentTask]:
    agent_id = uuid.UUID(agent_url.rsplit("/", 1)[1])
    async with app.state.context.sessions() as session:
        statement = select(AgentTask).where(AgentTask.agent_id == agent_id)
        return list((await session.scalars(statement.order_by(AgentTask.created_at))).all())


async def age_task(app: Any, task_id: uuid.UUID, days: int) -> None:
    async with app.state.context.sessions() as session, session.begin():
        created = utcnow() - timedelta(days=days)
        await session.execute(
            update(AgentTask).where(AgentTask.id == task_id).values(created_at=created)
        )


def statistics_of(html: str) -> str:
    found = re.search(
        r'<section class="panel" id="agent-statistics"[^>]*>.*?</section>', html, re.S
    )
    assert found, "the agent page has no statistics section"
    return text_of(found.group(0))


def chosen_period(html: str) -> str:
    found = re.search(r'\?period=(\w+)" aria-current="true"', html)
    assert found, "no period is marked as chosen"
    return found.group(1)


async def test_statistics_show_the_agents_figures(
    app: Any, engine_browser: httpx.AsyncClient
) -> None:
    agent_url = await agent_with_history(app, engine_browser)
    rows = await task_rows(app, agent_url)
    succeeded = [row for row in rows if row.status == "succeeded"]
    tokens = sum(row.prompt_tokens + row.completion_tokens for row in rows)
    cost = sum(row.cost_micros for row in rows)
    latency = sum(row.latency_ms or 0 for row in succeeded) / len(succeeded)
    assert [len(rows), len(succeeded)] == [3, 2]
    assert tokens > 0

    page = await engine_browser.get(agent_url)
    assert page.status_code == 200
    assert chosen_period(page.text) == "7d"
    stats = statistics_of(page.text)
    assert "Period Last 7 days" in stats
    assert "Tasks 3 Succeeded 2 Failed 1 Success rate 67 %" in stats
    assert f"Tokens {tokens} " in stats
    assert f"Cost {cost / 1_000_000:.4f} USD" in stats
    assert f"Mean latency (succeeded) {latency:.0f} ms" in stats
    assert '<svg class="bars"' in page.text
    assert "Succeeded: 2; Failed: 1" in page.text  # the chart's description
    assert "<script>" not in page.text  # the CSP allows no inline script

    listing = text_of((await engine_browser.get("/agents")).text)
    assert "Tasks (7 days) Success rate (7 days)" in listing
    assert "Active 3 67 %" in listing or "Paused 3 67 %" in listing


async def test_statistics_period_switch(app: Any, engine_browser: httpx.AsyncClient) -> None:
    agent_url = await agent_with_history(app, engine_browser)
    first, second, _failed = await task_rows(app, agent_url)
    await age_task(app, first.id, days=10)
    await age_task(app, second.id, days=3)

    day = await engine_browser.get(f"{agent_url}?period=24h")
    assert chosen_period(day.text) == "24h"
    assert "Tasks 1 Succeeded 0 Failed 1 Success rate 0 %" in statistics_of(day.text)
    assert "Mean latency (succeeded) —" in statistics_of(day.text)
    week = await engine_browser.get(f"{agent_url}?period=7d")
    assert "Tasks 2 Succeeded 1 Failed 1 Success rate 50 %" in statistics_of(week.text)
    month = await engine_browser.get(f"{agent_url}?period=30d")
    assert chosen_period(month.text) == "30d"
    assert "Tasks 3 Succeeded 2 Failed 1 Success rate 67 %" in statistics_of(month.text)

    listing = text_of((await engine_browser.get("/agents")).text)
    assert "Paused 2 50 %" in listing  # the list's column covers 7 days


# (A %00 never gets here: NUL characters are refused at the edge, tests/kit/test_http_conventions.)
@pytest.mark.parametrize("period", ["bogus", "", "7", "24H", "30days"])
async def test_bad_period_falls_back_to_seven_days(
    web: Web, browser: httpx.AsyncClient, period: str
) -> None:
    await sign_up(browser)
    agent_url = (await create_agent(browser)).headers["location"].split("?")[0]
    await submit(browser, agent_url, f"{agent_url}/tasks", {"prompt": "Hi"})
    await run_worker(web.app)
    page = await browser.get(f"{agent_url}?period={period}")
    assert page.status_code == 200
    assert chosen_period(page.text) == "7d"
    assert "Tasks 1 Succeeded 1 Failed 0 Success rate 100 %" in statistics_of(page.text)


async def test_agent_without_tasks_shows_empty_statistics(browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    agent_url = (await create_agent(browser)).headers["location"].split("?")[0]
    page = await browser.get(agent_url)
    stats = statistics_of(page.text)
    assert "Tasks 0 Succeeded 0 Failed 0 Success rate 0 % Tokens 0 Cost 0.0000 USD" in stats
    assert "Nothing to show yet." in stats
    listing = text_of((await browser.get("/agents")).text)
    assert "Active 0 —" in listing


async def test_another_workspaces_agent_is_a_404_page(
    app: Any, engine_browser: httpx.AsyncClient
) -> None:
    agent_url = await agent_with_history(app, engine_browser)
    async with Web(app).client() as stranger:
        await sign_up(stranger, email="other@example.com", workspace="Other Co")
        for url in (agent_url, f"{agent_url}?period=24h", f"{agent_url}?period=bogus"):
            page = await stranger.get(url)
            assert page.status_code == 404
            assert "Agent not found" in text_of(page.text)
            assert "stats-title" not in page.text
        listing = text_of((await stranger.get("/agents")).text)
        assert "Closer" not in listing


async def test_provider_key_on_an_internal_address_is_refused_on_the_form(
    browser: httpx.AsyncClient,
) -> None:
    # Issue 10, item 1: the page goes through the same outbound rule as the API.
    await sign_up(browser)
    refused = await submit(
        browser,
        "/agents",
        "/agents/keys",
        {
            "provider": "openai_compatible",
            "label": "Local",
            "api_key": "",
            "base_url": "http://169.254.169.254/latest",
            "default_model": "llama3",
            "priority": "1",
            "monthly_token_limit": "",
        },
    )
    assert refused.status_code == 422
    assert "not a public address" in text_of(refused.text)
    assert "Local" not in text_of((await browser.get("/agents")).text)
