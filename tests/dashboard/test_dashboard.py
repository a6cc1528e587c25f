from __future__ import annotations

from typing import Any

import httpx

from tests.agents.test_agents import create
from tests.agents.test_tasks import run_jobs, submit
from tests.helpers import assert_problem, register


async def dashboard(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    response = await client.get("/api/dashboard", headers=headers)
    assert response.status_code == 200, response.text
    return response


async def test_figures_reflect_the_workspace(client: httpx.AsyncClient, app: Any) -> None:
    owner = await register(client)
    first = await create(client, owner, provider=None)
    second = await create(client, owner, name="Second", provider=None)
    await client.put(
        f"/api/agents/{second['id']}/status", json={"status": "paused"}, headers=owner.headers
    )
    await submit(client, owner, first["id"])
    await submit(client, owner, first["id"])
    await run_jobs(app)
    body = (await dashboard(client, owner.headers)).json()
    assert body["agents_by_status"] == {"active": 1, "paused": 1}
    assert body["tasks_last_24h"] == {
        "total": 2,
        "succeeded": 2,
        "failed": 0,
        "in_progress": 0,
        "success_rate": 1.0,
    }
    (usage,) = body["llm_this_month"]
    assert usage["provider"] == "offline"
    assert usage["calls"] == 2
    assert body["recent_activity"][0]["name"] == "agent_task.finished"


async def test_cached_until_a_write(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    assert (await dashboard(client, owner.headers)).headers["x-cache"] == "miss"
    again = await dashboard(client, owner.headers)
    assert again.headers["x-cache"] == "hit"
    await create(client, owner)
    fresh = await dashboard(client, owner.headers)
    assert fresh.headers["x-cache"] == "miss"
    assert fresh.json()["agents_by_status"] == {"active": 1}


async def test_another_workspaces_write_keeps_the_cache(client: httpx.AsyncClient) -> None:
    owner, other = await register(client), await register(client)
    await dashboard(client, owner.headers)
    await create(client, other)
    cached = await dashboard(client, owner.headers)
    assert cached.headers["x-cache"] == "hit"
    assert cached.json()["agents_by_status"] == {}


async def test_requires_authentication(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/dashboard"), 401)


async def test_no_cache_header_recomputes(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    await dashboard(client, owner.headers)
    forced = await client.get("/api/dashboard",
                              headers={**owner.headers, "Cache-Control": "no-cache"})
    assert forced.headers["x-cache"] == "miss"
