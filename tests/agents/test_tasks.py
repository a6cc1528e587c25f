"""Agent tasks end to end: API → job queue → worker → LLM provider → result, both engines."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from intuitivus_flow.task_registry import worker_for
from tests.agents.test_agents import create
from tests.helpers import Account, assert_problem, register
from tests.llm.vendor_server import API_KEY, RunningVendor, serve_vendor


@pytest.fixture
def vendor() -> Iterator[RunningVendor]:
    yield from serve_vendor()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # The fake vendor is on loopback: reachable only because the operator setting allows it.
    return {"outbound_allow": ["127.0.0.1"]}


async def run_jobs(app: Any) -> int:
    return await worker_for(app.state.context, name="test-worker").run_until_idle()


async def submit(
    client: httpx.AsyncClient, account: Account, agent_id: str, prompt: str = "Qualify ACME"
) -> dict[str, Any]:
    response = await client.post(
        f"/api/agents/{agent_id}/tasks", json={"prompt": prompt}, headers=account.headers
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


async def task(client: httpx.AsyncClient, account: Account, task_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (
        await client.get(f"/api/agents/tasks/{task_id}", headers=account.headers)
    ).json()
    return body


class TestRun:
    async def test_offline_agent_answers_in_the_background(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        agent = await create(client, owner, provider=None, model=None)
        queued = await submit(client, owner, agent["id"])
        assert queued["status"] == "queued"
        assert await run_jobs(app) == 1
        done = await task(client, owner, queued["id"])
        assert done["status"] == "succeeded"
        assert done["result_text"].startswith("[offline provider")
        assert done["provider"] == "offline"

    async def test_vendor_answer_with_tokens_cost_and_latency(
        self, client: httpx.AsyncClient, app: Any, vendor: RunningVendor
    ) -> None:
        owner = await register(client)
        await client.post(
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
        agent = await create(client, owner, provider="openai_compatible")
        queued = await submit(client, owner, agent["id"], "Hello ACME")
        await run_jobs(app)
        done = await task(client, owner, queued["id"])
        assert done["status"] == "succeeded"
        assert done["result_text"] == "openai says: Hello ACME"
        assert (done["prompt_tokens"], done["completion_tokens"]) == (11, 7)
        assert done["cost_micros"] == 6  # 11 x 0.15 + 7 x 0.60 = 5.85 micro-USD
        assert done["latency_ms"] is not None
        sent = vendor.state.requests[-1][1]
        assert sent["messages"][0]["content"].startswith("Sales assistant")
        assert sent["model"] == "gpt-4o-mini"

    async def test_agent_bound_to_a_vendor_without_key_falls_back_offline(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        agent = await create(client, owner, provider="anthropic")
        queued = await submit(client, owner, agent["id"])
        await run_jobs(app)
        assert (await task(client, owner, queued["id"]))["provider"] == "offline"

    async def test_all_providers_failing_fails_the_task(
        self, client: httpx.AsyncClient, app: Any, vendor: RunningVendor
    ) -> None:
        owner = await register(client)
        await client.post(
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
        vendor.state.modes["openai"] = "error500"
        agent = await create(client, owner, provider="openai_compatible")
        queued = await submit(client, owner, agent["id"])
        await run_jobs(app)
        failed = await task(client, owner, queued["id"])
        assert failed["status"] == "failed"
        assert "openai_compatible:main: unavailable" in failed["error"]


class TestLifecycle:
    async def test_paused_agents_take_no_tasks(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        agent = await create(client, owner)
        await client.put(
            f"/api/agents/{agent['id']}/status", json={"status": "paused"}, headers=owner.headers
        )
        response = await client.post(
            f"/api/agents/{agent['id']}/tasks", json={"prompt": "x"}, headers=owner.headers
        )
        assert_problem(response, 422)

    async def test_agent_paused_after_submit_fails_the_task(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        agent = await create(client, owner)
        queued = await submit(client, owner, agent["id"])
        await client.put(
            f"/api/agents/{agent['id']}/status", json={"status": "paused"}, headers=owner.headers
        )
        await run_jobs(app)
        assert (await task(client, owner, queued["id"]))["status"] == "failed"

    async def test_cancel_before_it_runs(self, client: httpx.AsyncClient, app: Any) -> None:
        owner = await register(client)
        agent = await create(client, owner)
        queued = await submit(client, owner, agent["id"])
        cancelled = await client.post(
            f"/api/agents/tasks/{queued['id']}/cancel", headers=owner.headers
        )
        assert cancelled.json()["status"] == "cancelled"
        assert await run_jobs(app) == 0  # the job was cancelled with it
        assert (await task(client, owner, queued["id"]))["status"] == "cancelled"

    async def test_finished_tasks_cannot_be_cancelled(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        agent = await create(client, owner)
        queued = await submit(client, owner, agent["id"])
        await run_jobs(app)
        response = await client.post(
            f"/api/agents/tasks/{queued['id']}/cancel", headers=owner.headers
        )
        assert_problem(response, 409)


class TestStatsAndIsolation:
    async def test_stats_per_agent(self, client: httpx.AsyncClient, app: Any) -> None:
        owner = await register(client)
        first = await create(client, owner, name="A", provider=None)
        second = await create(client, owner, name="B", provider=None)
        for agent in (first, first, second):
            await submit(client, owner, agent["id"])
        await run_jobs(app)
        stats = (await client.get("/api/agents/stats", headers=owner.headers)).json()
        by_agent = {row["agent_id"]: row for row in stats["agents"]}
        assert by_agent[first["id"]]["tasks"] == 2
        assert by_agent[first["id"]]["success_rate"] == 1.0
        assert by_agent[second["id"]]["tokens"] > 0
        listing = await client.get(f"/api/agents/{first['id']}/tasks", headers=owner.headers)
        assert listing.json()["total"] == 2

    async def test_tasks_of_other_workspaces_are_404(self, client: httpx.AsyncClient) -> None:
        alpha, beta = await register(client), await register(client)
        agent = await create(client, beta)
        queued = await submit(client, beta, agent["id"])
        for method, path in [
            ("GET", f"/api/agents/tasks/{queued['id']}"),
            ("POST", f"/api/agents/tasks/{queued['id']}/cancel"),
            ("GET", f"/api/agents/{agent['id']}/tasks"),
            ("POST", f"/api/agents/{agent['id']}/tasks"),
        ]:
            response = await client.request(
                method,
                path,
                headers=alpha.headers,
                json={"prompt": "x"} if method == "POST" else None,
            )
            assert_problem(response, 404)
        stats = (await client.get("/api/agents/stats", headers=alpha.headers)).json()
        assert stats["agents"] == []


async def test_business_counters_count_replies_and_tokens(
    client: httpx.AsyncClient, app: Any
) -> None:
    from prometheus_client import REGISTRY

    def value(name: str, labels: dict[str, str]) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    replies_before = value("flow_agent_replies_total", {"outcome": "succeeded"})
    tokens_before = value("flow_llm_tokens_total", {"provider": "offline", "kind": "completion"})
    owner = await register(client)
    agent = await create(client, owner, provider=None)
    await submit(client, owner, agent["id"])
    await run_jobs(app)
    assert value("flow_agent_replies_total", {"outcome": "succeeded"}) == replies_before + 1
    tokens_after = value("flow_llm_tokens_total", {"provider": "offline", "kind": "completion"})
    assert tokens_after > tokens_before
