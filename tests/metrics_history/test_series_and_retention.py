"""The series API (downsampling, validation, access) and retention, on both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.metrics_history import partitions
from intuitivus_flow.metrics_history import service as history
from intuitivus_flow.metrics_history.models import MetricSample
from intuitivus_flow.metrics_history.repository import MetricRepository
from tests.helpers import assert_problem, invite_and_join, register

T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)


async def _write(app: Any, rows: list[tuple[str, datetime, float]], instance: str = "i1") -> None:
    samples = [MetricSample(name=n, time=t, instance=instance, value=v) for n, t, v in rows]
    async with unit_of_work(app.state.context.sessions) as session:
        await history.record(session, samples)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def test_series_is_downsampled_per_step(client: httpx.AsyncClient, app: Any) -> None:
    owner = await register(client)
    # Every 15 s for 10 minutes: values 0, 1, 2, ... (40 samples).
    await _write(app, [("cpu_usage_percent", T0 + timedelta(seconds=15 * i), i) for i in range(40)])
    response = await client.get(
        "/api/metrics/cpu_usage_percent/series",
        params={"start": _iso(T0), "end": _iso(T0 + timedelta(minutes=10)), "step": 60},
        headers=owner.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["step_seconds"] == 60
    points = body["points"]
    assert len(points) == 10  # 40 samples -> one point per minute
    # First minute holds samples 0..3: average 1.5, max 3.
    assert points[0]["avg"] == pytest.approx(1.5)
    assert points[0]["max"] == 3
    assert points[0]["samples"] == 4
    assert points[9]["avg"] == pytest.approx(37.5)
    assert datetime.fromisoformat(points[1]["time"]) == T0 + timedelta(minutes=1)


async def test_default_step_bounds_the_number_of_points(
    client: httpx.AsyncClient, app: Any
) -> None:
    owner = await register(client)
    await _write(
        app, [("requests_per_second", T0 + timedelta(seconds=15 * i), 1) for i in range(480)]
    )
    response = await client.get(
        "/api/metrics/requests_per_second/series",
        params={"start": _iso(T0), "end": _iso(T0 + timedelta(hours=2))},
        headers=owner.headers,
    )
    assert response.status_code == 200, response.text
    assert 0 < len(response.json()["points"]) <= history.DEFAULT_POINTS


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/metrics/not_a_signal/series", {}, "name"),
        (
            "/api/metrics/cpu_usage_percent/series",
            {"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
            "start",
        ),
        (
            "/api/metrics/cpu_usage_percent/series",
            {"start": "2026-01-01T00:00:00Z", "end": "2026-01-30T00:00:00Z", "step": 1},
            "step",
        ),
    ],
)
async def test_bad_names_and_ranges_are_problems(
    client: httpx.AsyncClient, path: str, params: dict[str, Any], field: str
) -> None:
    owner = await register(client)
    body = assert_problem(
        await client.get(path, params=params, headers=owner.headers), 422, "invalid-input"
    )
    assert field in body["detail"] or body.get("field") == field


async def test_only_operators_read_the_history(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    member = await invite_and_join(client, owner, role="member")
    url = "/api/metrics/cpu_usage_percent/series"
    assert_problem(await client.get(url), 401)
    assert_problem(await client.get(url, headers=member.headers), 403)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"metrics_token": "scrape-token-for-tests"}


async def test_the_metrics_token_reads_too(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/metrics/cpu_usage_percent/series",
        headers={"Authorization": "Bearer scrape-token-for-tests"},
    )
    assert response.status_code == 200, response.text


async def test_retention_forgets_old_samples(app: Any) -> None:
    now = datetime.now(UTC)
    old_month = partitions.add_months(partitions.month_start(now), -3)
    postgres = app.state.context.engine.dialect.name == "postgresql"
    async with unit_of_work(app.state.context.sessions) as session:
        if postgres:  # an old partition, as if the instance had run for months
            await partitions.ensure_partition(session, old_month)
    await _write(
        app,
        [("cpu_usage_percent", old_month + timedelta(days=2), 50), ("cpu_usage_percent", now, 60)],
    )
    async with unit_of_work(app.state.context.sessions) as session:
        outcome = await history.maintain(session, now=now, retention_days=30)
    async with unit_of_work(app.state.context.sessions) as session:
        assert await MetricRepository(session).count("cpu_usage_percent") == 1
        if postgres:
            assert outcome.dropped == [partitions.partition_name(old_month)]
            names = await partitions.list_partitions(session)
            assert partitions.partition_name(old_month) not in names
        else:
            assert outcome.deleted_rows == 1


async def test_postgres_table_is_partitioned_by_month_with_partitions_ahead(app: Any) -> None:
    if app.state.context.engine.dialect.name != "postgresql":
        pytest.skip("partitions are a PostgreSQL feature; SQLite uses row deletes")
    now = datetime.now(UTC)
    async with unit_of_work(app.state.context.sessions) as session:
        strategy = await session.scalar(
            text(
                "SELECT partstrat::text FROM pg_partitioned_table p "
                "JOIN pg_class c ON c.oid = p.partrelid WHERE c.relname = 'metrics'"
            )
        )
        assert strategy == "r"  # RANGE
        # The migration created this month and the next; maintenance adds the one after.
        before = await partitions.list_partitions(session)
        this_month = partitions.month_start(now)
        assert partitions.partition_name(this_month) in before
        assert partitions.partition_name(partitions.add_months(this_month, 1)) in before
        outcome = await history.maintain(session, now=now, retention_days=400)
        after = await partitions.list_partitions(session)
    assert partitions.partition_name(partitions.add_months(this_month, 2)) in after
    assert set(outcome.created) <= set(after)
