"""Plan limits: agents, members and monthly messages, each refused with /problems/plan-limit."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from intuitivus_flow.billing import service as billing
from intuitivus_flow.billing.exceptions import PlanLimitReached
from intuitivus_flow.billing.plans import PLANS, PlanId, get_plan, plan_named_in
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
    workspace_id = (await me(client, owner.headers))["workspace"]["id"]
    workspace = uuid.UUID(workspace_id)
    allowed = PLANS[PlanId.free].max_monthly_messages
    async with app.state.context.sessions() as session:
        await billing.check_message_quota(session, workspace)
        await billing.record_message_sent(session, workspace, count=allowed - 1)
        await billing.record_message_sent(session, workspace)
        await session.commit()
    async with app.state.context.sessions() as session:
        with pytest.raises(PlanLimitReached) as refused:
            await billing.check_message_quota(session, workspace)
        assert refused.value.extra["limit"] == "monthly_messages"
        with pytest.raises(ValueError, match="positive"):
            await billing.record_message_sent(session, workspace, count=0)
    usage = (await client.get("/api/billing/usage", headers=owner.headers)).json()
    messages = next(item for item in usage["limits"] if item["limit"] == "monthly_messages")
    assert messages == {"limit": "monthly_messages", "used": allowed, "allowed": allowed}


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
