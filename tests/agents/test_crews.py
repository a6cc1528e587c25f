"""Multi-agent runs: sequential hand-over and delegation, each step recorded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.agents.test_agents import create
from tests.agents.test_tasks import run_jobs
from tests.helpers import Account, assert_problem, register
from tests.llm.vendor_server import API_KEY, RunningVendor, serve_vendor


@pytest.fixture
def vendor() -> Iterator[RunningVendor]:
    yield from serve_vendor()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # The fake vendor is on loopback: reachable only because the operator setting allows it.
    return {"outbound_allow": ["127.0.0.1"]}


async def with_vendor_key(client: httpx.AsyncClient, owner: Account, vendor: RunningVendor) -> None:
    response = await client.post(
        "/api/llm/keys",
        headers=owner.headers,
        json={
            "provider": "openai_compatible",
            "label": "main",
            "api_key": API_KEY,
            "base_url": vendor.url,
            "default_model": "gpt-4o-mini",
        },
    )
    assert response.status_code == 201


async def start(client: httpx.AsyncClient, owner: Account, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/agents/crews", json=body, headers=owner.headers)
    assert response.status_code == 202, response.text
    started: dict[str, Any] = response.json()
    return started


async def run_of(client: httpx.AsyncClient, owner: Account, run_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (
        await client.get(f"/api/agents/crews/{run_id}", headers=owner.headers)
    ).json()
    return body


async def test_sequential_crew_passes_output_along(
    client: httpx.AsyncClient, app: Any, vendor: RunningVendor
) -> None:
    owner = await register(client)
    await with_vendor_key(client, owner, vendor)
    writer = await create(client, owner, name="Writer", provider="openai_compatible")
    editor = await create(client, owner, name="Editor", provider="openai_compatible")
    run = await start(client, owner, agent_ids=[writer["id"], editor["id"]], input="draft")
    assert await run_jobs(app) == 2
    done = await run_of(client, owner, run["id"])
    assert done["status"] == "succeeded"
    assert [s["agent_id"] for s in done["steps"]] == [writer["id"], editor["id"]]
    assert done["steps"][0]["output"] == "openai says: draft"
    assert done["steps"][1]["input"] == "openai says: draft"
    assert done["output"] == "openai says: openai says: draft"
    assert done["steps"][0]["handed_to_id"] == editor["id"]
    assert all(step["tokens"] == 18 for step in done["steps"])


async def test_delegation_hands_work_to_the_named_member(
    client: httpx.AsyncClient, app: Any, vendor: RunningVendor
) -> None:
    owner = await register(client)
    await with_vendor_key(client, owner, vendor)
    lead = await create(client, owner, name="Lead", provider="openai_compatible")
    analyst = await create(client, owner, name="Analyst", provider="openai_compatible")
    run = await start(
        client,
        owner,
        agent_ids=[lead["id"], analyst["id"]],
        mode="delegation",
        input="@delegate analyst: size the Brazilian market",
    )
    await run_jobs(app)
    done = await run_of(client, owner, run["id"])
    assert [s["agent_id"] for s in done["steps"]] == [lead["id"], analyst["id"]]
    assert done["steps"][1]["input"] == "size the Brazilian market"
    assert done["output"] == "openai says: size the Brazilian market"


async def test_delegation_to_a_stranger_ends_the_run(client: httpx.AsyncClient, app: Any) -> None:
    owner = await register(client)
    lead = await create(client, owner, name="Lead", provider=None)
    run = await start(
        client, owner, agent_ids=[lead["id"]], mode="delegation", input="@delegate nobody: do it"
    )
    await run_jobs(app)
    done = await run_of(client, owner, run["id"])
    assert done["status"] == "succeeded"
    assert len(done["steps"]) == 1


async def test_max_steps_bounds_a_delegation_loop(
    client: httpx.AsyncClient, app: Any, vendor: RunningVendor
) -> None:
    owner = await register(client)
    await with_vendor_key(client, owner, vendor)
    ping = await create(client, owner, name="Ping")
    pong = await create(client, owner, name="Pong")
    # The fake vendor echoes its input, so each agent keeps delegating to the other.
    text = "@delegate pong: @delegate ping: @delegate pong: @delegate ping: go"
    run = await start(
        client,
        owner,
        agent_ids=[ping["id"], pong["id"]],
        mode="delegation",
        input=text,
        max_steps=3,
    )
    await run_jobs(app)
    done = await run_of(client, owner, run["id"])
    assert len(done["steps"]) == 3
    assert done["status"] == "succeeded"


async def test_inactive_or_foreign_agents_are_refused(client: httpx.AsyncClient) -> None:
    owner, other = await register(client), await register(client)
    mine = await create(client, owner)
    theirs = await create(client, other)
    response = await client.post(
        "/api/agents/crews",
        headers=owner.headers,
        json={"agent_ids": [mine["id"], theirs["id"]], "input": "x"},
    )
    assert assert_problem(response, 422)["field"] == "agent_ids.1"
    await client.put(
        f"/api/agents/{mine['id']}/status", json={"status": "paused"}, headers=owner.headers
    )
    paused = await client.post(
        "/api/agents/crews", headers=owner.headers, json={"agent_ids": [mine["id"]], "input": "x"}
    )
    assert_problem(paused, 422)


async def test_runs_of_other_workspaces_are_404(client: httpx.AsyncClient) -> None:
    owner, other = await register(client), await register(client)
    agent = await create(client, other)
    run = await start(client, other, agent_ids=[agent["id"]], input="x")
    assert_problem(await client.get(f"/api/agents/crews/{run['id']}", headers=owner.headers), 404)


async def test_runs_are_listed_newest_first_with_their_totals(
    client: httpx.AsyncClient, app: Any
) -> None:
    owner, other = await register(client), await register(client)
    writer = await create(client, owner, name="Writer", provider=None)
    editor = await create(client, owner, name="Editor", provider=None)
    first = await start(client, owner, agent_ids=[writer["id"], editor["id"]], input="one")
    assert first["agent_ids"] == [writer["id"], editor["id"]]
    await run_jobs(app)
    second = await start(client, owner, agent_ids=[editor["id"]], input="two")
    stranger = await create(client, other, provider=None)
    await start(client, other, agent_ids=[stranger["id"]], input="theirs")

    listed = await client.get("/api/agents/crews", headers=owner.headers)
    assert listed.status_code == 200
    body = listed.json()
    assert body["total"] == 2  # the other workspace's run is not there
    assert [run["id"] for run in body["items"]] == [second["id"], first["id"]]
    queued, done = body["items"]
    assert (queued["status"], queued["step_count"], queued["tokens"]) == ("queued", 0, 0)
    assert done["status"] == "succeeded"
    assert done["agent_ids"] == [writer["id"], editor["id"]]
    assert done["step_count"] == 2
    steps = (await run_of(client, owner, first["id"]))["steps"]
    assert done["tokens"] == sum(step["tokens"] for step in steps) > 0
    assert "steps" not in done

    paged = await client.get("/api/agents/crews?limit=1&offset=1", headers=owner.headers)
    assert [run["id"] for run in paged.json()["items"]] == [first["id"]]
    assert (paged.json()["limit"], paged.json()["offset"], paged.json()["total"]) == (1, 1, 2)
