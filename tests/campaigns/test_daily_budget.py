"""The daily budget: a report showing the current UTC day's spend at the budget pauses the
campaign, and the hourly job activates it again once the next UTC day began (time is frozen by
passing `now`), on both engines."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from intuitivus_flow.campaigns import service as campaigns
from intuitivus_flow.campaigns import tasks
from intuitivus_flow.campaigns.models import Campaign
from intuitivus_flow.events.models import Event
from intuitivus_flow.jobs import periodic
from intuitivus_flow.jobs.models import Job
from intuitivus_flow.kit.db import SessionFactory, unit_of_work
from intuitivus_flow.task_registry import task_registry, worker_for
from tests.campaigns.helpers import activate, create_campaign, report, set_status
from tests.helpers import Account, assert_problem, register

START = "2026-10-01T00:00:00+00:00"


def today() -> date:
    return datetime.now(UTC).date()


def midnight_after(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)


def sessions_of(app: Any) -> SessionFactory:
    factory: SessionFactory = app.state.context.sessions
    return factory


async def daily_campaign(
    client: httpx.AsyncClient, owner: Account, *, daily: int = 3000, total: int | None = 100_000
) -> str:
    campaign = await create_campaign(
        client, owner, starts_at=START, daily_budget_minor=daily, total_budget_minor=total
    )
    await activate(client, owner, campaign["id"])
    return str(campaign["id"])


async def resume(app: Any, now: datetime) -> list[str]:
    async with unit_of_work(sessions_of(app)) as session:
        resumed = await campaigns.resume_after_daily_budget(session, now=now)
        return [str(campaign.id) for campaign in resumed]


async def timeline(client: httpx.AsyncClient, owner: Account, cid: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/campaigns/{cid}/events", headers=owner.headers)
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def campaign(client: httpx.AsyncClient, owner: Account, cid: str) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get(f"/api/campaigns/{cid}", headers=owner.headers)).json()
    return body


class TestPause:
    async def test_todays_spend_at_the_daily_budget_pauses_until_the_next_utc_day(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        cid = await daily_campaign(client, owner)
        day = today()
        below = await report(client, owner, cid, day.isoformat(), 2999)
        assert below["status"] == "active"
        reached = await report(client, owner, cid, day.isoformat(), 3000)  # replaces the day
        assert (reached["status"], reached["pause_reason"]) == ("paused", "daily_budget")
        assert datetime.fromisoformat(reached["resume_at"]) == midnight_after(day)
        latest = (await timeline(client, owner, cid))[0]
        assert (latest["to_status"], latest["user_id"]) == ("paused", None)
        assert latest["reason"].startswith(
            f"daily_budget: spend 3000 on {day.isoformat()} reached the daily budget 3000"
        )
        async with sessions_of(app)() as session:
            event = await session.scalar(
                select(Event)
                .where(Event.name == "campaign.status_changed")
                .order_by(Event.occurred_at.desc())
            )
        assert event is not None
        assert event.user_id is None
        assert event.properties["to"] == "paused"
        assert event.properties["reason"].startswith("daily_budget:")
        refused = await set_status(client, owner, cid, "active")
        assert "today's daily budget" in assert_problem(refused, 422)["detail"]
        raised = await client.patch(
            f"/api/campaigns/{cid}", json={"daily_budget_minor": 5000}, headers=owner.headers
        )
        assert raised.status_code == 200, raised.text
        resumed = await set_status(client, owner, cid, "active")  # a person may, within budget
        assert resumed.status_code == 200
        assert (resumed.json()["pause_reason"], resumed.json()["resume_at"]) == (None, None)

    async def test_an_earlier_days_spend_does_not_pause(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        cid = await daily_campaign(client, owner)
        yesterday = (today() - timedelta(days=1)).isoformat()
        assert (await report(client, owner, cid, yesterday, 9000))["status"] == "active"

    async def test_the_total_budget_wins_when_both_are_reached(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        cid = await daily_campaign(client, owner, daily=3000, total=3000)
        reached = await report(client, owner, cid, today().isoformat(), 3000)
        assert (reached["status"], reached["pause_reason"]) == ("paused", "budget_reached")
        assert reached["resume_at"] is None
        assert await resume(app, midnight_after(today()) + timedelta(days=3)) == []

    async def test_without_a_daily_budget_nothing_pauses(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        campaign = await create_campaign(client, owner, starts_at=START)
        await activate(client, owner, campaign["id"])
        paid = await report(client, owner, campaign["id"], today().isoformat(), 10**9)
        assert paid["status"] == "active"

    async def test_the_day_is_the_utc_day_of_now(self, client: httpx.AsyncClient, app: Any) -> None:
        owner = await register(client)
        cid = await daily_campaign(client, owner)
        yesterday = today() - timedelta(days=1)
        await report(client, owner, cid, yesterday.isoformat(), 3000)
        async with unit_of_work(sessions_of(app)) as session:
            row = await session.get(Campaign, uuid.UUID(cid))
            assert row is not None
            late_evening = datetime.combine(yesterday, time(23, 30), tzinfo=UTC)
            assert await campaigns.pause_when_daily_budget_reached(
                session, row, 3000, now=late_evening
            )
            assert row.resume_at == midnight_after(yesterday)


class TestResume:
    async def test_resumes_once_the_next_utc_day_began(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        cid = await daily_campaign(client, owner)
        day = today()
        await report(client, owner, cid, day.isoformat(), 3000)
        assert await resume(app, datetime.combine(day, time(23, 59, 59), tzinfo=UTC)) == []
        assert (await campaign(client, owner, cid))["status"] == "paused"
        assert await resume(app, midnight_after(day)) == [cid]
        resumed = await campaign(client, owner, cid)
        assert (resumed["status"], resumed["pause_reason"], resumed["resume_at"]) == (
            "active",
            None,
            None,
        )
        latest = (await timeline(client, owner, cid))[0]
        assert (latest["from_status"], latest["to_status"], latest["user_id"]) == (
            "paused",
            "active",
            None,
        )
        next_day = (day + timedelta(days=1)).isoformat()
        assert latest["reason"] == f"daily_budget: a new UTC day ({next_day}) began"
        assert await resume(app, midnight_after(day) + timedelta(hours=1)) == []  # once

    async def test_only_daily_budget_pauses_resume(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        by_hand = await daily_campaign(client, owner)
        assert (await set_status(client, owner, by_hand, "paused")).status_code == 200
        at_total = await daily_campaign(client, owner, daily=10, total=10)
        await report(client, owner, at_total, today().isoformat(), 10)
        kept = await daily_campaign(client, owner)
        await report(client, owner, kept, today().isoformat(), 3000)
        # Pausing what the system paused makes it a person's pause.
        kept_paused = await set_status(client, owner, kept, "paused")
        assert (kept_paused.json()["status"], kept_paused.json()["pause_reason"]) == (
            "paused",
            None,
        )
        assert (await timeline(client, owner, kept))[0]["reason"] == "kept paused by a person"
        assert await resume(app, midnight_after(today()) + timedelta(days=1)) == []
        for cid in (by_hand, at_total, kept):
            assert (await campaign(client, owner, cid))["status"] == "paused"

    async def test_not_while_the_total_budget_is_spent(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        cid = await daily_campaign(client, owner, daily=3000, total=5000)
        day = today()
        await report(client, owner, cid, day.isoformat(), 3000)
        # A late report for an earlier day, while paused, spends the rest of the total budget.
        await report(client, owner, cid, (day - timedelta(days=1)).isoformat(), 2000)
        assert await resume(app, midnight_after(day)) == []
        paused = await campaign(client, owner, cid)
        assert (paused["status"], paused["pause_reason"]) == ("paused", "daily_budget")
        raised = await client.patch(
            f"/api/campaigns/{cid}", json={"total_budget_minor": 50_000}, headers=owner.headers
        )
        assert raised.status_code == 200
        assert await resume(app, midnight_after(day) + timedelta(hours=1)) == [cid]

    async def test_not_when_the_new_day_is_spent_already(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner = await register(client)
        cid = await daily_campaign(client, owner)
        day, next_day = today(), today() + timedelta(days=1)
        await report(client, owner, cid, day.isoformat(), 3000)
        await report(client, owner, cid, next_day.isoformat(), 3500)  # the platform's day ran on
        assert await resume(app, midnight_after(day)) == []
        paused = await campaign(client, owner, cid)
        assert datetime.fromisoformat(paused["resume_at"]) == midnight_after(next_day)
        assert await resume(app, midnight_after(next_day)) == [cid]

    async def test_every_workspace_is_served(self, client: httpx.AsyncClient, app: Any) -> None:
        first, second = await register(client), await register(client)
        ids = []
        for owner in (first, second):
            cid = await daily_campaign(client, owner)
            await report(client, owner, cid, today().isoformat(), 3000)
            ids.append(cid)
        assert sorted(await resume(app, midnight_after(today()))) == sorted(ids)


class TestPeriodicJob:
    @pytest.mark.parametrize("settings_overrides", [{"embedded_worker": False}])
    async def test_the_hourly_job_resumes_campaigns(
        self, client: httpx.AsyncClient, app: Any, settings_overrides: dict[str, Any]
    ) -> None:
        registry = task_registry()  # every domain's tasks, as a real worker has them
        schedule = registry.spec(tasks.RESUME_DAILY_BUDGET)
        assert (schedule.every, schedule.queue) == (timedelta(hours=1), "default")
        owner = await register(client)
        cid = await daily_campaign(client, owner)
        yesterday = today() - timedelta(days=1)
        await report(client, owner, cid, yesterday.isoformat(), 3000)
        async with unit_of_work(sessions_of(app)) as session:
            row = await session.get(Campaign, uuid.UUID(cid))
            assert row is not None
            # As if yesterday's report had come in yesterday evening: its pause ran out.
            evening = datetime.combine(yesterday, time(23, 30), tzinfo=UTC)
            assert await campaigns.pause_when_daily_budget_reached(session, row, 3000, now=evening)
            only_resume = registry.only(tasks.RESUME_DAILY_BUDGET)
            await periodic.schedule_due(session, queues=["default"], tasks=only_resume)
        worker = worker_for(app.state.context, tasks=registry, queues=["default"])
        assert await worker.run_until_idle() >= 1
        async with sessions_of(app)() as session:
            job = await session.scalar(select(Job).where(Job.kind == tasks.RESUME_DAILY_BUDGET))
        assert job is not None
        assert (job.status, job.result) == ("succeeded", {"resumed": [cid]})
        assert (await campaign(client, owner, cid))["status"] == "active"
