"""Plan limits: agents, members and monthly messages, each refused with /problems/plan-limit."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from intuitivus_flow.billing import service as billing
from intuitivus_flow.billing.exceptions import PlanLimitReached
from intuitivus_flow.billing.plans import PLANS, PlanId, get_plan, plan_named_in
from intuitivus_flow.billing.repository import MessageUsageRepository
from intuitivus_flow.kit.db import unit_of_work
from tests.helpers import assert_problem, invite_and_join, me, register, unique_email

AGENT = {"name": "Helper"}


async def test_agents_are_limited_on_create_and_clone(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    allowed = PLANS[PlanId.free].max_agents
    ids = []
    for index in range(allowed):
        created = await client.post(
            "/api/agents", json={"name": f"a{index}"}, headers=owner.headers
        )
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    refused = await client.post("/api/agents", json=AGENT, headers=owner.headers)
    body = assert_problem(refused, 402, "plan-limit")
    assert (body["limit"], body["plan"], body["allowed"], body["used"]) == (
        "agents",
        "free",
        allowed,
        allowed,
    )
    assert "Free plan allows 5 agents" in body["detail"]
    clone = await client.post(f"/api/agents/{ids[0]}/clone", json={}, headers=owner.headers)
    assert_problem(clone, 402, "plan-limit")
    # A bigger plan lifts the limit at once.
    upgraded = await client.put(
        "/api/billing/subscription", json={"plan": "starter"}, headers=owner.headers
    )
    assert upgraded.json()["status"] == "trialing"
    assert (await client.post("/api/agents", json=AGENT, headers=owner.headers)).status_code == 201


async def test_members_are_limited_on_invite_and_accept(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    await client.put("/api/billing/subscription", json={"plan": "starter"}, headers=owner.headers)
    allowed_free = PLANS[PlanId.free].max_members
    for _ in range(allowed_free - 2):
        await invite_and_join(client, owner)
    # One more pending invitation fills the free plan's seats...
    pending = await client.post(
        "/api/workspace/invitations", json={"email": unique_email()}, headers=owner.headers
    )
    assert pending.status_code == 201
    # ...so back on free, inviting is refused (members + pending invitations count)...
    await client.put("/api/billing/subscription", json={"plan": "free"}, headers=owner.headers)
    refused = await client.post(
        "/api/workspace/invitations", json={"email": unique_email()}, headers=owner.headers
    )
    body = assert_problem(refused, 402, "plan-limit")
    assert (body["limit"], body["plan"]) == ("members", "free")
    # ...but the pending invitation can still be accepted: the seat was reserved.
    accepted = await client.post(
        "/api/auth/invitations/accept",
        json={"token": pending.json()["token"], "password": "correct horse battery"},
    )
    assert accepted.status_code == 201, accepted.text


async def test_accepting_is_refused_once_the_plan_is_full(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    await client.put("/api/billing/subscription", json={"plan": "starter"}, headers=owner.headers)
    allowed_free = PLANS[PlanId.free].max_members
    invitations = []
    for _ in range(allowed_free):  # owner + this many > the free plan
        response = await client.post(
            "/api/workspace/invitations", json={"email": unique_email()}, headers=owner.headers
        )
        invitations.append(response.json()["token"])
    await client.post("/api/billing/subscription/cancel", headers=owner.headers)
    results = [
        await client.post(
            "/api/auth/invitations/accept",
            json={"token": token, "password": "correct horse battery"},
        )
        for token in invitations
    ]
    assert [r.status_code for r in results[:-1]] == [201] * (allowed_free - 1)
    assert_problem(results[-1], 402, "plan-limit")


async def test_message_quota(client: httpx.AsyncClient, app: Any) -> None:
    owner = await register(client)
    workspace = uuid.UUID((await me(client, owner.headers))["workspace"]["id"])
    allowed = PLANS[PlanId.free].max_monthly_messages
    async with unit_of_work(app.state.context.sessions) as session:
        await billing.check_message_quota(session, workspace)
        assert await billing.use_message_quota(session, workspace, count=allowed - 1) == allowed - 1
        assert await billing.use_message_quota(session, workspace) == allowed
    async with unit_of_work(app.state.context.sessions) as session:
        with pytest.raises(PlanLimitReached) as refused:
            await billing.check_message_quota(session, workspace)
        assert refused.value.extra["limit"] == "monthly_messages"
        with pytest.raises(PlanLimitReached) as over:
            await billing.use_message_quota(session, workspace)
        assert (over.value.extra["used"], over.value.extra["allowed"]) == (allowed, allowed)
        with pytest.raises(ValueError, match="positive"):
            await billing.use_message_quota(session, workspace, count=0)
    usage = (await client.get("/api/billing/usage", headers=owner.headers)).json()
    messages = next(item for item in usage["limits"] if item["limit"] == "monthly_messages")
    assert messages == {"limit": "monthly_messages", "used": allowed, "allowed": allowed}


async def test_a_batch_over_the_quota_counts_nothing(client: httpx.AsyncClient, app: Any) -> None:
    owner = await register(client)
    workspace = uuid.UUID((await me(client, owner.headers))["workspace"]["id"])
    allowed = PLANS[PlanId.free].max_monthly_messages
    async with unit_of_work(app.state.context.sessions) as session:
        with pytest.raises(PlanLimitReached):  # more than the plan allows, even on a new month
            await billing.use_message_quota(session, workspace, count=allowed + 1)
        assert await billing.use_message_quota(session, workspace, count=allowed - 2) == allowed - 2
        with pytest.raises(PlanLimitReached):  # 3 more would pass the quota: none is counted
            await billing.use_message_quota(session, workspace, count=3)
        assert await billing.use_message_quota(session, workspace, count=2) == allowed


async def test_a_rolled_back_send_gives_its_message_back(
    client: httpx.AsyncClient, app: Any
) -> None:
    owner = await register(client)
    workspace = uuid.UUID((await me(client, owner.headers))["workspace"]["id"])

    async def failing_send() -> None:
        async with unit_of_work(app.state.context.sessions) as session:
            await billing.use_message_quota(session, workspace)
            raise RuntimeError("the send failed after counting")

    with pytest.raises(RuntimeError):
        await failing_send()
    async with app.state.context.sessions() as session:
        assert await MessageUsageRepository(session, workspace).used(billing.month_period()) == 0


async def test_parallel_senders_never_pass_the_quota(client: httpx.AsyncClient, app: Any) -> None:
    """Fifteen transactions at once, five messages left: exactly five are counted."""
    owner = await register(client)
    workspace = uuid.UUID((await me(client, owner.headers))["workspace"]["id"])
    allowed = PLANS[PlanId.free].max_monthly_messages
    async with unit_of_work(app.state.context.sessions) as session:
        await billing.use_message_quota(session, workspace, count=allowed - 5)

    async def send_one() -> bool:
        try:
            async with unit_of_work(app.state.context.sessions) as session:
                await billing.use_message_quota(session, workspace)
                await asyncio.sleep(0.01)  # hold the transaction open, as a real send does
        except PlanLimitReached:
            return False
        return True

    results = await asyncio.gather(*(send_one() for _ in range(15)))
    assert results.count(True) == 5
    async with app.state.context.sessions() as session:
        used = await MessageUsageRepository(session, workspace).used(billing.month_period())
    assert used == allowed


async def test_usage_for_members_but_writes_for_admins(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    member = await invite_and_join(client, owner)
    usage = await client.get("/api/billing/usage", headers=member.headers)
    assert usage.status_code == 200
    assert {item["limit"]: item["used"] for item in usage.json()["limits"]}["members"] == 2
    denied = await client.put(
        "/api/billing/subscription", json={"plan": "pro"}, headers=member.headers
    )
    assert_problem(denied, 403)
    plans = (await client.get("/api/billing/plans")).json()
    assert [plan["id"] for plan in plans] == ["free", "starter", "pro"]


def test_plan_helpers() -> None:
    assert get_plan("retired-plan").id is PlanId.free
    assert plan_named_in("Flow Pro (yearly)") is PlanId.pro
    assert plan_named_in("Something else") is None
    assert plan_named_in(None) is None
