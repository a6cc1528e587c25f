"""The periodic billing sweep, driven with explicit `now`s: overdue invoices make subscriptions
past_due, the grace period cancels them, and period ends renew them with exactly one invoice
per period however often (or concurrently) the sweep runs. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from intuitivus_flow.billing import tasks
from intuitivus_flow.billing.payments import manual as manual_payments
from intuitivus_flow.billing.sweep import SweepResult, sweep_subscriptions
from intuitivus_flow.jobs.models import Job, JobStatus
from intuitivus_flow.jobs.registry import TaskRegistry
from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.task_registry import task_registry, worker_for
from tests.billing.helpers import (
    make_licence,
    pending_invoice_payment,
    subscribe,
    subscription_of,
)
from tests.conftest import Database
from tests.helpers import Account, register

GRACE = timedelta(days=14)
NOTHING = SweepResult()


async def sweep(app: Any, at: datetime, grace: timedelta = GRACE) -> SweepResult:
    async with unit_of_work(app.state.context.sessions) as session:
        return await sweep_subscriptions(session, at, grace=grace)


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def invoices(client: httpx.AsyncClient, account: Account) -> list[dict[str, Any]]:
    listed = (await client.get("/api/billing/invoices", headers=account.headers)).json()
    items: list[dict[str, Any]] = listed["items"]
    return items


async def plan_in_use(client: httpx.AsyncClient, account: Account) -> str:
    usage = (await client.get("/api/billing/usage", headers=account.headers)).json()
    plan: str = usage["plan"]["id"]
    return plan


async def paying_customer(client: httpx.AsyncClient, app: Any) -> Account:
    """An active pro subscription whose first invoice an operator confirmed as paid."""
    customer = await register(client)
    _, payment = await pending_invoice_payment(client, customer)
    async with unit_of_work(app.state.context.sessions) as session:
        operator = manual_payments.shell_operator()
        await manual_payments.confirm(session, operator, uuid.UUID(payment["id"]))
    assert (await subscription_of(client, customer))["status"] == "active"
    return customer


class TestOverdue:
    async def test_past_due_then_canceled_after_the_grace_period(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        late = await register(client)
        invoice = await subscribe(client, late, "pro")
        trial_end = when((await subscription_of(client, late))["trial_ends_at"])
        due = when(invoice["due_at"])
        assert due == trial_end  # a trial's invoice is due when the trial ends
        payer = await paying_customer(client, app)

        assert await sweep(app, due - timedelta(minutes=1)) == NOTHING
        assert (await subscription_of(client, late))["status"] == "trialing"

        assert await sweep(app, due + timedelta(minutes=1)) == SweepResult(past_due=1)
        assert (await subscription_of(client, late))["status"] == "past_due"
        assert await plan_in_use(client, late) == "pro"  # past_due keeps the plan
        changes = (
            await client.get("/api/events?name=subscription.status_changed", headers=late.headers)
        ).json()["items"]
        assert changes[0]["properties"]["reason"] == "invoice_overdue"
        assert await sweep(app, due + timedelta(minutes=2)) == NOTHING

        assert await sweep(app, due + GRACE - timedelta(minutes=1)) == NOTHING
        assert await sweep(app, due + GRACE + timedelta(minutes=1)) == SweepResult(canceled=1)
        canceled = await subscription_of(client, late)
        assert canceled["status"] == "canceled"
        assert await plan_in_use(client, late) == "free"
        assert await sweep(app, due + GRACE + timedelta(days=1)) == NOTHING
        assert (await subscription_of(client, payer))["status"] == "active"

    async def test_a_late_payment_brings_it_back(self, client: httpx.AsyncClient, app: Any) -> None:
        customer = await register(client)
        invoice, payment = await pending_invoice_payment(client, customer)
        due = when(invoice["due_at"])
        assert await sweep(app, due + timedelta(hours=1)) == SweepResult(past_due=1)
        async with unit_of_work(app.state.context.sessions) as session:
            operator = manual_payments.shell_operator()
            await manual_payments.confirm(session, operator, uuid.UUID(payment["id"]))
        assert (await subscription_of(client, customer))["status"] == "active"
        assert await sweep(app, due + GRACE + timedelta(hours=1)) == NOTHING

    async def test_one_sweep_after_long_downtime_does_both_steps(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        customer = await register(client)
        invoice = await subscribe(client, customer, "starter")
        later = when(invoice["due_at"]) + GRACE + timedelta(hours=1)
        assert await sweep(app, later) == SweepResult(past_due=1, canceled=1)
        assert (await subscription_of(client, customer))["status"] == "canceled"


class TestRenewal:
    async def test_one_invoice_per_period_even_when_run_twice(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        customer = await paying_customer(client, app)
        first = await subscription_of(client, customer)
        end = when(first["current_period_end"])
        assert await sweep(app, end - timedelta(minutes=1)) == NOTHING

        at = end + timedelta(hours=1)
        assert await sweep(app, at) == SweepResult(renewed=1)
        assert await sweep(app, at) == NOTHING
        assert await sweep(app, at + timedelta(hours=1)) == NOTHING
        issued = await invoices(client, customer)
        assert len(issued) == 2
        renewal = next(item for item in issued if item["status"] == "open")
        assert when(renewal["period_start"]) == end
        assert when(renewal["period_end"]) == end + timedelta(days=30)
        assert when(renewal["due_at"]) == at + timedelta(days=7)
        assert renewal["amount_minor"] == 9900
        renewed = await subscription_of(client, customer)
        assert when(renewed["current_period_start"]) == end
        assert when(renewed["current_period_end"]) == end + timedelta(days=30)
        assert renewed["status"] == "active"
        events = (
            await client.get("/api/events?name=subscription.renewed", headers=customer.headers)
        ).json()
        assert events["total"] == 1
        assert events["items"][0]["properties"]["invoice_id"] == renewal["id"]

        # The renewal invoice follows the same rules: unpaid past its due date -> past_due.
        overdue = when(renewal["due_at"]) + timedelta(minutes=1)
        assert await sweep(app, overdue) == SweepResult(past_due=1)

    async def test_concurrent_sweeps_renew_once(
        self, client: httpx.AsyncClient, app: Any, database: Database
    ) -> None:
        customer = await paying_customer(client, app)
        end = when((await subscription_of(client, customer))["current_period_end"])
        results = await asyncio.gather(
            *(sweep(app, end + timedelta(hours=1)) for _ in range(3)), return_exceptions=True
        )
        done = [result for result in results if isinstance(result, SweepResult)]
        failed = [result for result in results if not isinstance(result, SweepResult)]
        # PostgreSQL skips the rows another sweep holds; SQLite's single writer may instead
        # refuse a stale snapshot, and the job queue retries that sweep later.
        assert all(isinstance(error, OperationalError) for error in failed), failed
        if database.kind == "postgresql":
            assert not failed
        assert sum(result.renewed for result in done) == 1
        assert len(await invoices(client, customer)) == 2

    async def test_catching_up_after_downtime(self, client: httpx.AsyncClient, app: Any) -> None:
        customer = await paying_customer(client, app)
        end = when((await subscription_of(client, customer))["current_period_end"])
        # Two more periods ended meanwhile; the first renewal's invoice is due before the
        # sweep runs, but it is issued in the same sweep, after the overdue check.
        result = await sweep(app, end + timedelta(days=61))
        assert result == SweepResult(renewed=3)
        periods = sorted(when(item["period_start"]) for item in await invoices(client, customer))
        assert periods[1:] == [end + timedelta(days=30 * n) for n in range(3)]


class TestLeftAlone:
    async def test_licences_and_free_plans(self, client: httpx.AsyncClient, app: Any) -> None:
        licensed = await register(client)
        await subscribe(client, licensed, "pro")  # a trial invoice, then a licence pays
        key = await make_licence(app, plan="pro")
        redeemed = await client.post(
            "/api/billing/licences/redeem", json={"licence_key": key}, headers=licensed.headers
        )
        assert redeemed.status_code == 201, redeemed.text
        free = await register(client)
        chosen = await client.put(
            "/api/billing/subscription", json={"plan": "free"}, headers=free.headers
        )
        assert chosen.json()["status"] == "active"
        far = utcnow() + timedelta(days=400)
        assert await sweep(app, far) == NOTHING
        assert (await subscription_of(client, licensed))["status"] == "active"
        assert (await subscription_of(client, free))["status"] == "active"
        assert await invoices(client, free) == []

    async def test_replaced_and_trial_invoices_are_void(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        customer = await register(client)
        starter = await subscribe(client, customer, "starter")
        pro = await subscribe(client, customer, "pro")
        statuses = {item["id"]: item["status"] for item in await invoices(client, customer)}
        assert statuses == {starter["id"]: "void", pro["id"]: "open"}
        # Canceling during the trial: nothing is owed.
        await client.post("/api/billing/subscription/cancel", headers=customer.headers)
        assert {item["status"] for item in await invoices(client, customer)} == {"void"}
        # Coming back much later starts afresh, not past_due for the old trial.
        again = await subscribe(client, customer, "pro")
        assert when(again["due_at"]) > utcnow() + timedelta(days=6)
        assert await sweep(app, utcnow() + timedelta(days=1)) == NOTHING
        assert (await subscription_of(client, customer))["status"] == "active"


class TestPeriodicJob:
    async def test_declared_and_run_by_a_worker(self, client: httpx.AsyncClient, app: Any) -> None:
        context = app.state.context
        schedule = task_registry().spec(tasks.SWEEP_SUBSCRIPTIONS)
        assert schedule.every == timedelta(hours=1)
        # A worker with only this task, so other domains' periodic jobs stay out of it.
        only_sweep = TaskRegistry.of(tasks.TASKS).only(tasks.SWEEP_SUBSCRIPTIONS)
        worker = worker_for(context, tasks=only_sweep, queues=[schedule.queue])
        assert await worker.schedule_periodic() == 1
        assert await worker.schedule_periodic() == 1  # the same slot's job, not a second one
        assert await worker.run_until_idle() == 1
        async with context.sessions() as session:
            job = await session.get(Job, await _only_job(session))
            assert job is not None
            assert job.status == JobStatus.succeeded, job.last_error
            assert job.result == {"past_due": 0, "canceled": 0, "renewed": 0}


async def _only_job(session: Any) -> uuid.UUID:
    from sqlalchemy import select

    ids = (
        (await session.execute(select(Job.id).where(Job.kind == tasks.SWEEP_SUBSCRIPTIONS)))
        .scalars()
        .all()
    )
    assert len(ids) == 1
    return uuid.UUID(str(ids[0]))


@pytest.mark.parametrize("days", [0, 30])
def test_grace_days_setting(days: int) -> None:
    from intuitivus_flow.config import Settings

    assert Settings(billing_grace_days=days).billing_grace_days == days
    assert Settings().billing_grace_days == 14
