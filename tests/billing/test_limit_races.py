"""Plan limits hold under concurrency: parallel requests at the limit create exactly the limit,
and every other request gets the 402 plan-limit problem (on SQLite and on PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from intuitivus_flow.billing.plans import PLANS, PlanId
from tests.dataport.support import jsonl, make_zip
from tests.helpers import PASSWORD, Account, assert_problem, register, unique_email

FREE = PLANS[PlanId.free]
PARALLEL = 15


def outcomes(responses: list[httpx.Response]) -> Counter[int]:
    for response in responses:
        if response.status_code == 402:
            assert_problem(response, 402, "plan-limit")
    return Counter(response.status_code for response in responses)


async def count_of(client: httpx.AsyncClient, owner: Account, path: str) -> int:
    response = await client.get(path, params={"limit": 100}, headers=owner.headers)
    assert response.status_code == 200, response.text
    total: int = response.json()["total"]
    return total


async def test_parallel_agent_creations_stop_at_the_limit(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    responses = await asyncio.gather(
        *(
            client.post("/api/agents", json={"name": f"a{index}"}, headers=owner.headers)
            for index in range(PARALLEL)
        )
    )
    assert outcomes(responses) == {201: FREE.max_agents, 402: PARALLEL - FREE.max_agents}
    assert await count_of(client, owner, "/api/agents") == FREE.max_agents


async def test_parallel_clones_stop_at_the_limit(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    first = await client.post("/api/agents", json={"name": "original"}, headers=owner.headers)
    assert first.status_code == 201, first.text
    responses = await asyncio.gather(
        *(
            client.post(f"/api/agents/{first.json()['id']}/clone", json={}, headers=owner.headers)
            for _ in range(PARALLEL)
        )
    )
    clones = FREE.max_agents - 1
    assert outcomes(responses) == {201: clones, 402: PARALLEL - clones}
    assert await count_of(client, owner, "/api/agents") == FREE.max_agents


async def test_parallel_invitations_stop_at_the_limit(client: httpx.AsyncClient) -> None:
    """The owner holds one seat; pending invitations reserve the others."""
    owner = await register(client)
    responses = await asyncio.gather(
        *(
            client.post(
                "/api/workspace/invitations", json={"email": unique_email()}, headers=owner.headers
            )
            for _ in range(PARALLEL)
        )
    )
    seats = FREE.max_members - 1
    assert outcomes(responses) == {201: seats, 402: PARALLEL - seats}


async def test_parallel_acceptances_stop_at_the_limit(client: httpx.AsyncClient) -> None:
    """Invitations sent on a bigger plan, accepted all at once after going back to free."""
    owner = await register(client)
    await client.put("/api/billing/subscription", json={"plan": "pro"}, headers=owner.headers)
    tokens = []
    for _ in range(FREE.max_members + 3):
        invited = await client.post(
            "/api/workspace/invitations", json={"email": unique_email()}, headers=owner.headers
        )
        assert invited.status_code == 201, invited.text
        tokens.append(invited.json()["token"])
    await client.post("/api/billing/subscription/cancel", headers=owner.headers)
    responses = await asyncio.gather(
        *(
            client.post("/api/auth/invitations/accept", json={"token": token, "password": PASSWORD})
            for token in tokens
        )
    )
    joined = FREE.max_members - 1
    assert outcomes(responses) == {201: joined, 402: len(tokens) - joined}
    assert await count_of(client, owner, "/api/workspace/members") == FREE.max_members


async def test_parallel_imports_stop_at_the_agent_limit(client: httpx.AsyncClient) -> None:
    """Imports count the agents they add against the plan, like creations do."""
    owner = await register(client)
    archive = make_zip({"agents.jsonl": jsonl(*({"name": f"A{i}"} for i in range(3)))})
    responses = await asyncio.gather(
        *(
            client.post(
                "/api/data/import",
                files={"file": ("export.zip", archive, "application/zip")},
                headers=owner.headers,
            )
            for _ in range(4)
        )
    )
    imported = [response for response in responses if response.status_code == 200]
    assert len(imported) == 1, [response.text for response in responses]
    for refused in (response for response in responses if response.status_code != 200):
        # Refused by validation (it saw the committed import), or by the check under the
        # lock at the end (it counted the same agents as a parallel import).
        if refused.status_code == 402:
            assert_problem(refused, 402, "plan-limit")
        else:
            assert "plan allows 5 agents" in assert_problem(refused, 422)["errors"][0]["message"]
    assert await count_of(client, owner, "/api/agents") == 3
