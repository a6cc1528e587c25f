"""KPI goals: progress against the baseline, the drop watcher and its alert, the API."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from intuitivus_flow.alerts.engine import _advance_all
from intuitivus_flow.alerts.models import Alert, AlertState, AlertTransition
from intuitivus_flow.analytics import goals_service, kpis, kpis_service
from intuitivus_flow.analytics.goals_models import KpiGoal
from intuitivus_flow.analytics.kpis import Kpi
from intuitivus_flow.campaigns.automation.models import CampaignConversion
from intuitivus_flow.campaigns.models import Campaign, Platform
from intuitivus_flow.kit.db import create_session_factory, unit_of_work
from intuitivus_flow.workspaces.models import Workspace
from tests.conftest import empty_tables
from tests.helpers import assert_problem, register

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


def daily_sales(days: int, *, stop_days_before_now: int = 0) -> list[kpis.Purchase]:
    """Three to six sales of 10.00 a day for `days` days; none in the last `stop` days."""
    rng = random.Random(7)
    found = []
    for back in range(days, 0, -1):
        day = NOW - timedelta(days=back)
        if back <= stop_days_before_now:
            continue
        found += [kpis.Purchase(f"{back}-{n}", day, 1000) for n in range(rng.randint(3, 6))]
    return found


class TestProgress:
    def test_target_and_progress_by_hand(self) -> None:
        assert goals_service.target_of(200.0, 20) == pytest.approx(240.0)
        assert goals_service.progress_towards(230.0, 200.0, 240.0) == pytest.approx(0.75)
        # A churn goal points down: moving down is progress.
        assert goals_service.target_of(0.10, -25) == pytest.approx(0.075)
        assert goals_service.progress_towards(0.09, 0.10, 0.075) == pytest.approx(0.4)
        assert goals_service.progress_towards(None, 200.0, 240.0) is None
        assert goals_service.progress_towards(1.0, None, None) is None


class TestJudge:
    def test_a_sales_stop_is_a_drop(self) -> None:
        rows = kpis_service.WorkspaceRows([], daily_sales(450, stop_days_before_now=7))
        series = goals_service.daily_series(Kpi.revenue, rows, end=NOW)
        verdict = goals_service.judge(Kpi.revenue, series)
        assert verdict.dropping
        assert verdict.value is not None
        assert verdict.reference is not None
        assert verdict.value < verdict.reference

    def test_steady_sales_are_not(self) -> None:
        rows = kpis_service.WorkspaceRows([], daily_sales(450))
        verdict = goals_service.judge(
            Kpi.revenue, goals_service.daily_series(Kpi.revenue, rows, end=NOW)
        )
        assert not verdict.dropping

    def test_a_young_series_gets_no_verdict(self) -> None:
        # The detector's cold start (150 daily points) has not passed: never a false alarm.
        rows = kpis_service.WorkspaceRows([], daily_sales(60, stop_days_before_now=7))
        verdict = goals_service.judge(
            Kpi.revenue, goals_service.daily_series(Kpi.revenue, rows, end=NOW)
        )
        assert not verdict.dropping

    def test_for_churn_a_rise_is_the_drop(self) -> None:
        series = [(NOW - timedelta(days=n), 0.05) for n in range(5, 0, -1)] + [(NOW, 0.5)]
        verdict = goals_service.judge(Kpi.customer_churn, series, detector="record")
        # Whatever the detector says, a churn rate that fell is never "dropping".
        falling = [(NOW - timedelta(days=n), 0.5) for n in range(5, 0, -1)] + [(NOW, 0.05)]
        assert not goals_service.judge(Kpi.customer_churn, falling, detector="record").dropping
        assert verdict.reference == pytest.approx(0.05)


def test_the_engine_leaves_watched_alerts_alone() -> None:
    alert = Alert(
        fingerprint="f",
        name=goals_service.ALERT_NAME,
        labels={"observed_by": goals_service.WATCHER},
        annotations={},
        severity="warning",
        state=AlertState.firing,
        evaluated_at=NOW,
    )
    rule_alert = Alert(
        fingerprint="g",
        name="SomeRuleGone",
        labels={},
        annotations={},
        severity="warning",
        state=AlertState.firing,
        evaluated_at=NOW,
        last_true_at=NOW - timedelta(hours=1),
    )
    _advance_all({"f": alert, "g": rule_alert}, {}, {}, NOW)
    assert alert.state == AlertState.firing
    assert rule_alert.state == AlertState.resolved


@pytest.fixture
async def sessions(database: Any) -> AsyncIterator[Any]:
    yield create_session_factory(database.engine)
    await empty_tables(database.engine)


async def test_the_watcher_raises_and_records_the_alert(sessions: Any) -> None:
    async with unit_of_work(sessions) as session:
        workspace = Workspace(name="Shop")
        session.add(workspace)
        await session.flush()
        campaign = Campaign(
            workspace_id=workspace.id, name="Always on", platform=Platform.email, currency="USD"
        )
        session.add(campaign)
        await session.flush()
        for purchase in daily_sales(450, stop_days_before_now=7):
            conversion = CampaignConversion(
                workspace_id=workspace.id,
                campaign_id=campaign.id,
                contact_id=uuid.uuid4(),
                value_minor=purchase.amount_minor,
            )
            conversion.created_at = purchase.at
            session.add(conversion)
        goal = KpiGoal(
            workspace_id=workspace.id,
            kpi=Kpi.revenue,
            target_change_percent=20,
            baseline_start=date(2026, 1, 1),
            baseline_end=date(2026, 3, 1),
            due=date(2026, 12, 1),
        )
        session.add(goal)
    async with unit_of_work(sessions) as session:
        report = await goals_service.watch_goals(
            session, now=NOW, notifier=None, external_url="http://flow.test"
        )
    assert report == {"goals": 1, "transitions": 1, "firing": 1, "queued": 0}
    async with unit_of_work(sessions) as session:
        (alert,) = (await session.execute(select(Alert))).scalars().all()
        assert alert.name == "KpiGoalDropping"
        assert alert.state == AlertState.firing
        assert alert.labels["kpi"] == "revenue"
        assert alert.labels["workspace_id"] == str(workspace.id)
        (moved,) = (await session.execute(select(AlertTransition))).scalars().all()
        assert moved.to_state == AlertState.firing
        stored = await session.get(KpiGoal, goal.id)
        assert stored is not None
        assert stored.dropping
        read = await goals_service.progress(session, stored, today=date(2026, 12, 7))
    # Sales were steady: the baseline months' mean and the newest month are both ~ 4.5 a day.
    assert read.baseline_value is not None
    assert read.target_value is not None
    assert read.target_value == pytest.approx(read.baseline_value * 1.2)
    assert [p.month for p in read.points][:3] == [
        date(2026, 1, 1),
        date(2026, 2, 1),
        date(2026, 3, 1),
    ]
    assert all(p.in_baseline for p in read.points[:3])
    assert not any(p.in_baseline for p in read.points[3:])


async def test_goals_api(client: httpx.AsyncClient) -> None:
    operator = await register(client)  # the first workspace: the instance's operators
    other = await register(client)
    body = {
        "kpi": "revenue",
        "target_change_percent": 20,
        "baseline_start": "2026-01-01",
        "baseline_end": "2026-03-31",
        "due": "2026-06-30",
    }
    created = await client.post("/api/analytics/goals", json=body, headers=other.headers)
    assert created.status_code == 201, created.text
    goal = created.json()
    assert (goal["kpi"], goal["level"], goal["baseline_end"]) == (
        "revenue",
        "workspace",
        "2026-03-01",
    )
    assert [p["month"] for p in goal["points"]][:1] == ["2026-01-01"]
    listed = await client.get("/api/analytics/goals", headers=other.headers)
    assert [g["id"] for g in listed.json()] == [goal["id"]]
    # Another workspace cannot see it.
    foreign = await client.get(f"/api/analytics/goals/{goal['id']}", headers=operator.headers)
    assert_problem(foreign, 404)
    # Platform KPIs: operators only.
    platform = {**body, "kpi": "mrr"}
    refused = await client.post("/api/analytics/goals", json=platform, headers=other.headers)
    assert_problem(refused, 403)
    allowed = await client.post("/api/analytics/goals", json=platform, headers=operator.headers)
    assert allowed.status_code == 201, allowed.text
    bad = await client.post(
        "/api/analytics/goals", json={**body, "due": "2026-02-01"}, headers=other.headers
    )
    assert_problem(bad, 422)
    gone = await client.delete(f"/api/analytics/goals/{goal['id']}", headers=other.headers)
    assert gone.status_code == 204
    assert (await client.get("/api/analytics/goals", headers=other.headers)).json() == []


async def test_kpi_and_clv_routes(client: httpx.AsyncClient) -> None:
    operator = await register(client)
    member = await register(client)
    kpis_body = await client.get("/api/analytics/kpis?months=3", headers=member.headers)
    assert kpis_body.status_code == 200, kpis_body.text
    assert len(kpis_body.json()["months"]) == 3
    platform = await client.get("/api/analytics/kpis/platform", headers=operator.headers)
    assert platform.status_code == 200, platform.text
    assert len(platform.json()["months"]) == 12
    assert_problem(await client.get("/api/analytics/kpis/platform", headers=member.headers), 403)
    assert_problem(await client.get("/api/analytics/kpis?months=99", headers=member.headers), 422)
    clv = await client.get("/api/analytics/clv", headers=member.headers)
    assert clv.status_code == 200, clv.text
    assert clv.json()["problem"] == "no customer bought before the end of calibration"
    adoption = await client.get(
        "/api/analytics/kpis/feature-adoption",
        params={
            "feature": "agent.created",
            "date_from": "2026-01-01T00:00:00Z",
            "date_to": "2027-01-01T00:00:00Z",
        },
        headers=member.headers,
    )
    assert adoption.status_code == 200, adoption.text
    naive = await client.get(
        "/api/analytics/kpis/feature-adoption",
        params={
            "feature": "x",
            "date_from": "2026-01-01T00:00:00",
            "date_to": "2027-01-01T00:00:00",
        },
        headers=member.headers,
    )
    assert_problem(naive, 422)
