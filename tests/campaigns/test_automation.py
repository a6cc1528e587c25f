"""The automation engine on the job queue, on both engines: journeys (send, wait, branch),
racing workers, retries with backoff, paused campaigns, and the unconfigured channel."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, update

from intuitivus_flow.campaigns import service as campaigns
from intuitivus_flow.campaigns import tasks
from intuitivus_flow.campaigns.automation.service import ENROLL, QUEUE, RUN_STEP
from intuitivus_flow.campaigns.models import CampaignStepDelivery
from intuitivus_flow.jobs import service as jobs
from intuitivus_flow.jobs.models import Job
from intuitivus_flow.jobs.registry import TaskRegistry
from intuitivus_flow.jobs.worker import RetryPolicy, Worker
from intuitivus_flow.kit.db import SessionFactory, unit_of_work
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.task_registry import worker_for
from tests.campaigns.fakes import InMemorySender
from tests.campaigns.helpers import activate, create_agent, create_campaign, report, set_status
from tests.helpers import Account, assert_problem, register

FAST_RETRY = RetryPolicy(base=timedelta(milliseconds=1), cap=timedelta(milliseconds=5))
START = "2026-10-01T00:00:00+00:00"
TEMPLATE = {"kind": "send_template", "template": "spring_offer", "parameters": ["20%"]}


def contacts(count: int) -> list[uuid.UUID]:
    return [uuid.uuid4() for _ in range(count)]


def handlers_for(sender: Any) -> TaskRegistry:
    return TaskRegistry.of(tasks.declare(sender))


def sessions_of(app: Any) -> SessionFactory:
    factory: SessionFactory = app.state.context.sessions
    return factory


def workers(app: Any, sender: Any, count: int = 1) -> list[Worker]:
    registry = handlers_for(sender)
    return [
        worker_for(
            app.state.context,
            tasks=registry,
            queues=[QUEUE],
            concurrency=3,
            retry=FAST_RETRY,
            name=f"w{index}",
        )
        for index in range(count)
    ]


async def drain(app: Any, pool: Iterable[Worker], rounds: int = 50) -> None:
    """Run the workers together until no campaigns-queue job is ready (retries included)."""
    pool = list(pool)
    for _ in range(rounds):
        await asyncio.gather(*(worker.run_until_idle() for worker in pool))
        if not await ready_jobs(app):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("jobs still ready after draining")


async def ready_jobs(app: Any) -> int:
    async with sessions_of(app)() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(Job)
            .where(
                Job.queue == QUEUE,
                Job.status == "queued",
                Job.run_at <= utcnow() + timedelta(seconds=1),
            )
        )
    return int(count or 0)


async def fast_forward(app: Any) -> None:
    """Waits are jobs with a future run_at: make them due now."""
    async with unit_of_work(sessions_of(app)) as session:
        await session.execute(update(Job).where(Job.status == "queued").values(run_at=utcnow()))


async def campaign_jobs(app: Any) -> list[Job]:
    async with sessions_of(app)() as session:
        return list((await session.scalars(select(Job).order_by(Job.created_at))).all())


async def deliveries(app: Any) -> list[CampaignStepDelivery]:
    async with sessions_of(app)() as session:
        return list((await session.scalars(select(CampaignStepDelivery))).all())


async def automated_campaign(
    client: httpx.AsyncClient,
    owner: Account,
    steps: list[dict[str, Any]],
    *,
    with_agent: bool = True,
    **fields: Any,
) -> str:
    agent_id = await create_agent(client, owner) if with_agent else None
    campaign = await create_campaign(
        client, owner, starts_at=START, audience_tags=["vip"], agent_id=agent_id, **fields
    )
    response = await client.put(
        f"/api/campaigns/{campaign['id']}/steps",
        json={"steps": labelled(steps)},
        headers=owner.headers,
    )
    assert response.status_code == 200, response.text
    await activate(client, owner, campaign["id"])
    return str(campaign["id"])


def labelled(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Whole-list entries with ids, a branch's targets written as positions (1-based) here
    turned into the ids of the steps at those positions."""
    ids = [str(uuid.uuid4()) for _ in steps]
    entries = []
    for step_id, step in zip(ids, steps, strict=True):
        targets: dict[str, Any] = {
            name: ids[step[name] - 1] if isinstance(step.get(name), int) else step.get(name)
            for name in ("if_true", "if_false")
            if name in step
        }
        entries.append({"id": step_id, "step": {**step, **targets}})
    return entries


async def run(client: httpx.AsyncClient, owner: Account, campaign_id: str) -> dict[str, Any]:
    response = await client.post(
        f"/api/campaigns/{campaign_id}/automation/run", headers=owner.headers
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


async def steps(client: httpx.AsyncClient, owner: Account, campaign_id: str) -> list[Any]:
    body: list[Any] = (
        await client.get(f"/api/campaigns/{campaign_id}/steps", headers=owner.headers)
    ).json()
    return body


class TestJourney:
    async def test_send_wait_branch_on_reply(self, client: httpx.AsyncClient, app: Any) -> None:
        owner = await register(client)
        audience = contacts(3)
        sender = InMemorySender(segment=audience, replied={audience[0]})
        cid = await automated_campaign(
            client,
            owner,
            [
                TEMPLATE,
                {"kind": "wait", "seconds": 3600},
                {"kind": "branch", "on": "reply", "if_true": 4},
                {"kind": "send_message", "text": "Glad you answered!"},
            ],
        )
        await run(client, owner, cid)
        pool = workers(app, sender)
        await drain(app, pool)
        assert sender.segment_tags == [["vip"]]
        assert {m.contact_id for m in sender.delivered.values()} == set(audience)
        assert [s["deliveries"] for s in await steps(client, owner, cid)] == [3, 3, 0, 0]
        waiting = [job for job in await campaign_jobs(app) if job.status == "queued"]
        assert len(waiting) == 3  # the branch, due in an hour
        assert all(job.run_at > utcnow() + timedelta(minutes=59) for job in waiting)
        await fast_forward(app)
        await drain(app, pool)
        assert [s["deliveries"] for s in await steps(client, owner, cid)] == [3, 3, 3, 1]
        texts = [m for m in sender.delivered.values() if hasattr(m, "text")]
        assert [m.contact_id for m in texts] == [audience[0]]
        first = sender.sends_to(audience[1])[0]
        assert first.idempotency_key == f"campaign-step:{first.step_id}:{audience[1]}"
        branched = [d for d in await deliveries(app) if d.status == "branched"]
        assert sorted(d.detail["result"] for d in branched) == [False, False, True]

    async def test_branch_on_conversion(self, client: httpx.AsyncClient, app: Any) -> None:
        owner = await register(client)
        audience = contacts(2)
        sender = InMemorySender(segment=audience)
        thanks = {**TEMPLATE, "template": "thanks"}
        reminder = {**TEMPLATE, "template": "reminder"}
        cid = await automated_campaign(
            client,
            owner,
            [{"kind": "branch", "on": "conversion", "if_true": 2, "if_false": 3}, thanks, reminder],
        )
        converted = await client.post(
            f"/api/campaigns/{cid}/conversions",
            json={"contact_id": str(audience[0]), "value_minor": 4999},
            headers=owner.headers,
        )
        assert converted.status_code == 201, converted.text
        again = await client.post(
            f"/api/campaigns/{cid}/conversions",
            json={"contact_id": str(audience[0])},
            headers=owner.headers,
        )
        assert again.json()["id"] == converted.json()["id"]
        await run(client, owner, cid)
        await drain(app, workers(app, sender))
        sent = {m.contact_id: getattr(m, "template", None) for m in sender.delivered.values()}
        # Branch targets jump forward; after "thanks" the journey continues with step 3.
        assert sent[audience[1]] == "reminder"
        assert [getattr(m, "template", None) for m in sender.sends_to(audience[0])] == [
            "thanks",
            "reminder",
        ]

    async def test_running_again_only_enrols_new_contacts(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        sender = InMemorySender(segment=contacts(2))
        cid = await automated_campaign(client, owner, [TEMPLATE])
        await run(client, owner, cid)
        pool = workers(app, sender)
        await drain(app, pool)
        sender.segment.append(uuid.uuid4())
        await run(client, owner, cid)
        await drain(app, pool)
        assert len(sender.attempts) == 3
        assert len(sender.delivered) == 3


class TestExactlyOnce:
    async def test_racing_workers_deliver_once_per_contact(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        audience = contacts(12)
        sender = InMemorySender(segment=audience)
        cid = await automated_campaign(client, owner, [TEMPLATE, {**TEMPLATE, "template": "b"}])
        await run(client, owner, cid)
        await run(client, owner, cid)  # two enrolments race too
        first_step = (await steps(client, owner, cid))[0]["id"]
        async with unit_of_work(sessions_of(app)) as session:
            # The same (step, contact) work twice, as a redelivered job would be: only the
            # delivery row's unique pair can stop the second run.
            workspace_id = (await campaign_jobs(app))[0].workspace_id
            for contact in audience:
                await jobs.enqueue(
                    session,
                    kind=RUN_STEP,
                    payload={"campaign_id": cid, "step_id": first_step, "contact_id": str(contact)},
                    workspace_id=workspace_id,
                    queue=QUEUE,
                )
        await drain(app, workers(app, sender, count=3))
        for contact in audience:
            assert len(sender.sends_to(contact)) == 2  # both steps, once each
        assert len(sender.attempts) == 24  # the duplicates stopped before sending
        rows = await deliveries(app)
        assert len(rows) == 24
        assert len({(row.step_id, row.contact_id) for row in rows}) == 24
        results = [job.result for job in await campaign_jobs(app) if job.kind == RUN_STEP]
        assert sum(1 for result in results if result == {"status": "already_done"}) == 12

    async def test_a_failing_send_retries_with_backoff(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        audience = contacts(1)
        sender = InMemorySender(segment=audience, failures_left=2)
        cid = await automated_campaign(client, owner, [TEMPLATE])
        await run(client, owner, cid)
        slow = worker_for(
            app.state.context,
            tasks=handlers_for(sender),
            queues=[QUEUE],
            retry=RetryPolicy(base=timedelta(minutes=1)),
        )
        await slow.run_until_idle()
        (step_job,) = [job for job in await campaign_jobs(app) if job.kind == RUN_STEP]
        assert step_job.status == "queued"
        assert step_job.run_at > utcnow() + timedelta(seconds=25)  # backing off
        assert step_job.last_error == "ConnectionError: vendor unavailable"
        assert await deliveries(app) == []  # the failed attempt wrote nothing
        await fast_forward(app)
        await drain(app, workers(app, sender))
        (step_job,) = [job for job in await campaign_jobs(app) if job.kind == RUN_STEP]
        assert (step_job.status, step_job.attempts) == ("succeeded", 3)
        assert len(sender.attempts) == 3
        assert len(sender.delivered) == 1
        assert len(await deliveries(app)) == 1


class TestHeldAndStopped:
    async def test_a_paused_campaign_defers_its_jobs(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        sender = InMemorySender(segment=contacts(2))
        cid = await automated_campaign(client, owner, [TEMPLATE])
        await run(client, owner, cid)
        await set_status(client, owner, cid, "paused")
        pool = workers(app, sender)
        await drain(app, pool)
        (enroll,) = await campaign_jobs(app)
        assert (enroll.status, enroll.attempts) == ("queued", 0)  # no attempt spent
        assert enroll.run_at > utcnow() + timedelta(seconds=30)
        assert sender.attempts == []
        await set_status(client, owner, cid, "active")
        await fast_forward(app)
        await drain(app, pool)
        assert len(sender.delivered) == 2

    async def test_a_daily_budget_pause_holds_queued_steps_until_the_next_day(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        audience = contacts(2)
        sender = InMemorySender(segment=audience)
        second = {**TEMPLATE, "template": "second"}
        cid = await automated_campaign(
            client,
            owner,
            [TEMPLATE, {"kind": "wait", "seconds": 600}, second],
            daily_budget_minor=1000,
        )
        await run(client, owner, cid)
        pool = workers(app, sender)
        await drain(app, pool)
        assert len(sender.attempts) == 2  # the first step; the second waits ten minutes
        day = datetime.now(UTC).date()
        paused = await report(client, owner, cid, day.isoformat(), 1000)
        assert (paused["status"], paused["pause_reason"]) == ("paused", "daily_budget")
        await fast_forward(app)
        await drain(app, pool)
        assert len(sender.attempts) == 2  # nothing was sent while paused
        held = [job for job in await campaign_jobs(app) if job.status == "queued"]
        assert len(held) == 2
        assert all(job.attempts == 0 and job.run_at > utcnow() for job in held)
        assert [s["deliveries"] for s in await steps(client, owner, cid)] == [2, 2, 0]
        async with unit_of_work(sessions_of(app)) as session:
            next_day = datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
            assert len(await campaigns.resume_after_daily_budget(session, now=next_day)) == 1
        await fast_forward(app)
        await drain(app, pool)
        sent = [getattr(m, "template", None) for m in sender.sends_to(audience[0])]
        assert sent == ["spring_offer", "second"]
        assert len(sender.delivered) == 4

    async def test_a_cancelled_campaign_drops_its_jobs(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        sender = InMemorySender(segment=contacts(2))
        cid = await automated_campaign(client, owner, [TEMPLATE, TEMPLATE])
        await run(client, owner, cid)
        pool = workers(app, sender)
        await pool[0].run_one()  # enrolment only: the step jobs are queued
        await set_status(client, owner, cid, "cancelled")
        await drain(app, pool)
        assert sender.attempts == []
        statuses = {job.result["status"] for job in await campaign_jobs(app) if job.result}
        assert statuses == {"enrolled", "cancelled"}

    async def test_replaced_steps_end_queued_journeys(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        sender = InMemorySender(segment=contacts(1))
        cid = await automated_campaign(client, owner, [TEMPLATE])
        await run(client, owner, cid)
        pool = workers(app, sender)
        await pool[0].run_one()
        replaced = await client.put(
            f"/api/campaigns/{cid}/steps", json={"steps": [TEMPLATE]}, headers=owner.headers
        )
        assert replaced.status_code == 200
        await drain(app, pool)
        assert sender.attempts == []
        assert (await campaign_jobs(app))[-1].result == {"status": "step_removed"}

    async def test_bad_payloads_fail_permanently(self, app: Any) -> None:
        async with unit_of_work(sessions_of(app)) as session:
            await jobs.enqueue(session, kind=RUN_STEP, payload={}, queue=QUEUE)
            await jobs.enqueue(session, kind=ENROLL, payload={"campaign_id": "x"}, queue=QUEUE)
        await drain(app, workers(app, InMemorySender()))
        errors = sorted(str(job.last_error) for job in await campaign_jobs(app))
        assert all(job.status == "failed" for job in await campaign_jobs(app))
        assert errors == [
            "PermanentJobError: campaign job without a workspace",
            "PermanentJobError: campaign job without a workspace",
        ]


class TestRunAndStatus:
    async def test_preconditions(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        draft = await create_campaign(client, owner, starts_at=START)
        url = f"/api/campaigns/{draft['id']}"
        not_active = await client.post(f"{url}/automation/run", headers=owner.headers)
        assert "activate it" in assert_problem(not_active, 422)["detail"]
        backwards = await client.put(
            f"{url}/steps",
            json={"steps": labelled([TEMPLATE, {"kind": "branch", "on": "reply", "if_true": 1}])},
            headers=owner.headers,
        )
        problem = assert_problem(backwards, 422)
        assert problem["field"] == "steps.1.step.if_true"
        assert problem["errors"][0]["msg"] == "Must name a later step (or stop)"
        elsewhere = await client.put(
            f"{url}/steps",
            json={"steps": [{"kind": "branch", "on": "reply", "if_false": str(uuid.uuid4())}]},
            headers=owner.headers,
        )
        assert assert_problem(elsewhere, 422)["field"] == "steps.0.step.if_false"
        twice = await client.put(
            f"{url}/steps",
            json={"steps": [{"id": draft["id"], **TEMPLATE}, {"id": draft["id"], **TEMPLATE}]},
            headers=owner.headers,
        )
        assert assert_problem(twice, 422)["field"] == "steps.1.id"
        unknown = await client.put(
            f"{url}/steps", json={"steps": [{"kind": "teleport"}]}, headers=owner.headers
        )
        assert_problem(unknown, 422)
        await activate(client, owner, draft["id"])
        no_steps = await client.post(f"{url}/automation/run", headers=owner.headers)
        assert assert_problem(no_steps, 422)["field"] == "steps"
        await client.put(
            f"{url}/steps",
            json={"steps": [{"kind": "send_message", "text": "hi"}]},
            headers=owner.headers,
        )
        no_agent = await client.post(f"{url}/automation/run", headers=owner.headers)
        assert assert_problem(no_agent, 422)["field"] == "agent_id"

    async def test_steps_are_fixed_once_delivered(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        cid = await automated_campaign(client, owner, [TEMPLATE])
        await run(client, owner, cid)
        await drain(app, workers(app, InMemorySender(segment=contacts(1))))
        response = await client.put(
            f"/api/campaigns/{cid}/steps", json={"steps": []}, headers=owner.headers
        )
        assert_problem(response, 409)

    async def test_queue_depth_and_lag(self, client: httpx.AsyncClient, app: Any) -> None:
        owner = await register(client)
        empty = await client.get("/api/campaigns/automation/status", headers=owner.headers)
        assert empty.json() == {
            "queue": "campaigns",
            "depth": 0,
            "lag_seconds": 0.0,
            "running": 0,
            "failed": 0,
        }
        cid = await automated_campaign(client, owner, [TEMPLATE])
        await run(client, owner, cid)
        await run(client, owner, cid)
        async with unit_of_work(sessions_of(app)) as session:
            await session.execute(update(Job).values(run_at=utcnow() - timedelta(seconds=90)))
        status = (
            await client.get("/api/campaigns/automation/status", headers=owner.headers)
        ).json()
        assert status["depth"] == 2
        assert 89 <= status["lag_seconds"] < 300
        timeline = (await client.get(f"/api/campaigns/{cid}/events", headers=owner.headers)).json()
        assert timeline["items"][0]["kind"] == "automation_started"
