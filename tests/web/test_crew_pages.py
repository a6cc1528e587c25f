"""The Crews pages: start a multi-agent run, follow its steps while the worker runs them, see
it in the list; bad crews are refused field by field and write nothing; other workspaces' runs
are not found. On both database engines."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from intuitivus_flow.agents.models import CrewRun
from intuitivus_flow.events.models import Event
from intuitivus_flow.jobs.models import Job
from intuitivus_flow.task_registry import worker_for
from tests.web.browsing import Web, sign_up, submit, text_of
from tests.web.test_agent_pages import create_agent

EMPTY_STEPS = {f"agent_{number}": "" for number in range(1, 7)}


@pytest.fixture
def web(app: Any) -> Web:
    """The shared app fixture: each test runs on SQLite and on PostgreSQL."""
    return Web(app)


async def agent_id(browser: httpx.AsyncClient, name: str, **fields: str) -> str:
    created = await create_agent(browser, name=name, **fields)
    assert created.status_code == 303, created.text
    return created.headers["location"].split("?")[0].rsplit("/", 1)[1]


async def start(browser: httpx.AsyncClient, *agents: str, **fields: str) -> httpx.Response:
    steps = {f"agent_{number}": agent for number, agent in enumerate(agents, start=1)}
    values = {**EMPTY_STEPS, "mode": "sequential", "input": "Plan the launch", **steps, **fields}
    return await submit(browser, "/crews", "/crews", values)


async def run_worker(web: Web) -> int:
    return await worker_for(web.app.state.context).run_until_idle()


async def count(web: Web, model: Any, *where: Any) -> int:
    async with web.app.state.context.sessions() as session:
        statement = select(func.count()).select_from(model).where(*where)
        return int(await session.scalar(statement) or 0)


async def test_start_a_sequential_run_and_follow_its_steps(
    web: Web, browser: httpx.AsyncClient
) -> None:
    await sign_up(browser)
    page = await browser.get("/crews")
    assert page.status_code == 200
    assert 'href="/crews" aria-current="page"' in page.text  # in the navigation
    writer = await agent_id(browser, "Writer")
    editor = await agent_id(browser, "Editor")
    started = await start(browser, writer, editor)
    assert started.status_code == 303, started.text
    run_url = started.headers["location"].split("?")[0]

    queued = await browser.get(started.headers["location"])
    assert queued.headers["refresh"] == "3"  # reloads itself while the run is in progress
    text = text_of(queued.text)
    assert "The crew run was queued" in text
    assert "Step 1: Writer Queued" in text
    assert "Writer → Editor" in text

    assert await run_worker(web) == 2
    done = await browser.get(run_url)
    assert "refresh" not in done.headers
    text = text_of(done.text)
    assert "Crew run Succeeded" in text
    assert "Step 1: Writer Completed · handed over to Editor" in text
    assert "Step 2: Editor Completed · final answer" in text
    assert "Input: Plan the launch" in text
    assert text.count("[offline provider") >= 3  # two step outputs and the result
    assert " ms " in text
    assert "tokens" in text

    listing = text_of((await browser.get("/crews")).text)
    assert "Plan the launch Succeeded Sequential Writer → Editor 2" in listing


async def test_delegation_from_the_page(web: Web, browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    lead = await agent_id(browser, "Lead")
    analyst = await agent_id(browser, "Analyst")
    started = await start(
        browser, lead, analyst, mode="delegation", input="@delegate Analyst: size the market"
    )
    assert started.status_code == 303, started.text
    await run_worker(web)
    text = text_of((await browser.get(started.headers["location"])).text)
    assert "Lead (lead) → Analyst" in text
    assert "handed over to Analyst" in text
    assert "Step 2: Analyst Completed" in text
    assert "Input: size the market" in text


async def test_bad_crews_show_field_errors_and_write_nothing(
    web: Web, browser: httpx.AsyncClient
) -> None:
    await sign_up(browser)
    one = await agent_id(browser, "One")
    paused = await agent_id(browser, "Sleepy")
    await submit(browser, "/agents", f"/agents/{paused}/status", {"status": "paused"})

    nobody = await start(browser, input="")
    assert nobody.status_code == 422
    text = text_of(nobody.text)
    assert "Choose at least one agent, starting with step 1." in text
    assert "at least 1 character" in text  # the prompt's own error, in the same answer

    gap = await start(browser, "", one)
    assert gap.status_code == 422
    assert 'id="crew-agent_1" name="agent_1" aria-invalid="true"' in gap.text
    assert "move the later steps up" in text_of(gap.text)
    assert f'<option value="{one}" selected>' in gap.text  # the choices are kept

    twice = await start(browser, one, one, mode="delegation")
    assert twice.status_code == 422
    assert 'id="crew-agent_2" name="agent_2" aria-invalid="true"' in twice.text
    assert "already in the crew" in text_of(twice.text)

    forged = await start(browser, one, "not-an-agent")
    assert forged.status_code == 422
    assert "Choose one of the agents." in text_of(forged.text)

    inactive = await start(browser, one, paused)
    assert inactive.status_code == 422
    assert 'id="crew-agent_2" name="agent_2" aria-invalid="true"' in inactive.text
    assert "Sleepy is paused" in text_of(inactive.text)

    too_long = await start(browser, one, max_steps="99")
    assert too_long.status_code == 422
    assert "less than or equal to 50" in text_of(too_long.text)

    assert await count(web, CrewRun) == 0
    assert await count(web, Job, Job.kind == "crew.step") == 0
    assert await count(web, Event, Event.name == "crew_run.started") == 0


async def test_runs_of_another_workspace_are_not_found(
    web: Web, browser: httpx.AsyncClient
) -> None:
    await sign_up(browser)
    async with web.client() as stranger:
        await sign_up(stranger, email="rival@example.com", workspace="Rival Inc")
        theirs = await agent_id(stranger, "Rival agent")
        started = await start(stranger, theirs, input="Secret plans")
        run_url = started.headers["location"].split("?")[0]
        assert (await stranger.get(run_url)).status_code == 200
    foreign = await browser.get(run_url)
    assert foreign.status_code == 404
    assert "Crew run not found" in text_of(foreign.text)
    assert "Secret plans" not in foreign.text
    assert "Secret plans" not in (await browser.get("/crews")).text
    assert (await browser.get("/crews/not-an-id")).status_code == 404


async def test_without_active_agents_the_page_says_how_to_start(
    browser: httpx.AsyncClient,
) -> None:
    await sign_up(browser)
    text = text_of((await browser.get("/crews")).text)
    assert "No active agents yet." in text
    assert "No crew runs yet." in text
    for odd in ("abc", "-1", "²", "9" * 40):  # a page link's offset never breaks the page
        assert (await browser.get("/crews", params={"offset": odd})).status_code == 200
