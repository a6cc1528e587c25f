"""Seeded faults on both engines: a saturated pool is ranked first, a missing index behind a
scan is found from the plans (SQLite), and a healthy database reports no bottleneck."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from intuitivus_flow.observability.collectors import instrument_pool
from intuitivus_flow.observability.metrics import FlowMetrics
from intuitivus_flow.performance.database import (
    SlowStatementLog,
    Thresholds,
    analyze_database,
    install_slow_log,
)
from intuitivus_flow.performance.database.hot_queries import HOT_QUERIES, parameter_count
from intuitivus_flow.performance.findings import Severity
from tests.conftest import Database, empty_tables

pytestmark = pytest.mark.slow

BOTTLENECK = (Severity.CRITICAL, Severity.WARNING)


@pytest.fixture
async def small_pool(database: Database) -> AsyncIterator[tuple[AsyncEngine, FlowMetrics]]:
    engine = create_async_engine(database.url, pool_size=1, max_overflow=0, pool_timeout=10)
    metrics = FlowMetrics(CollectorRegistry())
    instrument_pool(engine, metrics)
    yield engine, metrics
    await engine.dispose()


async def _hold(engine: AsyncEngine, seconds: float) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
        await asyncio.sleep(seconds)


class TestSaturatedPool:
    async def test_waiting_checkouts_rank_first_with_the_pool_setting(
        self, small_pool: tuple[AsyncEngine, FlowMetrics]
    ) -> None:
        engine, metrics = small_pool
        # Eight requests share one connection, each holding it 40 ms: seven of them wait.
        await asyncio.gather(*(_hold(engine, 0.04) for _ in range(8)))
        report = await analyze_database(engine, metrics=metrics, advise=False)
        top = report.findings[0]
        assert top.code == "db.pool_saturated"
        assert top.severity is Severity.CRITICAL
        assert int(top.evidence["waited_checkouts"]) >= 6
        assert float(top.evidence["mean_wait_ms"]) >= 40
        assert "FLOW_DATABASE_POOL_SIZE (now 1)" in top.recommendation

    async def test_an_idle_pool_is_not_a_finding(
        self, small_pool: tuple[AsyncEngine, FlowMetrics]
    ) -> None:
        engine, metrics = small_pool
        for _ in range(5):
            await _hold(engine, 0)
        report = await analyze_database(engine, metrics=metrics, advise=False)
        assert all(f.code != "db.pool_saturated" for f in report.findings)


class TestHealthyDatabase:
    async def test_the_hot_queries_on_a_fresh_schema_raise_no_bottleneck(
        self, database: Database
    ) -> None:
        engine = create_async_engine(database.url)
        metrics = FlowMetrics(CollectorRegistry())
        instrument_pool(engine, metrics)
        if database.kind == "sqlite":
            install_slow_log(engine, threshold_seconds=0.1)
        try:
            async with engine.connect() as connection:
                for query in HOT_QUERIES:
                    await _run(connection, query.sql, database.kind)
            report = await analyze_database(engine, metrics=metrics)
        finally:
            await engine.dispose()
        assert [f for f in report.findings if f.severity in BOTTLENECK] == []
        if database.kind == "postgresql":  # the shared server does not preload it
            assert any("pg_stat_statements" in s.reason for s in report.skipped)


async def _run(connection: object, sql: str, kind: str) -> None:
    from sqlalchemy.ext.asyncio import AsyncConnection

    assert isinstance(connection, AsyncConnection)
    count = parameter_count(sql)
    # NULL matches nothing (the plan still runs); a LIMIT needs a number.
    values: list[object] = [None] * count
    if f"LIMIT ${count}" in sql:
        values[-1] = 50
    if kind == "sqlite":
        await connection.exec_driver_sql(sql, {str(n + 1): v for n, v in enumerate(values)})
    else:  # asyncpg takes `$n` natively
        await connection.exec_driver_sql(sql, tuple(values))


class TestSqlitePlans:
    async def test_a_scan_behind_the_analytics_copy_is_named_with_its_index(
        self, database: Database
    ) -> None:
        if database.kind != "sqlite":
            pytest.skip("PostgreSQL's plans are read by the advisor (test_postgres_advisor)")
        engine = database.engine
        async with engine.begin() as connection:
            await connection.execute(text("DROP INDEX IF EXISTS ix_events_received_at_id"))
            await connection.execute(
                text(
                    "INSERT INTO workspaces (id, name, created_at) "
                    "VALUES ('00000000000000000000000000000001', 'w', '2026-01-01')"
                )
            )
            await connection.execute(
                text(
                    "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g "
                    "WHERE n < 1500) INSERT INTO events (id, workspace_id, name, source, "
                    "occurred_at, received_at, properties) SELECT printf('%032x', n), "
                    "'00000000000000000000000000000001', 'e', 'server', "
                    "datetime('2026-01-01', '+' || n || ' seconds'), "
                    "datetime('2026-01-01', '+' || n || ' seconds'), '{}' FROM g"
                )
            )
        try:
            report = await analyze_database(engine, thresholds=Thresholds(large_table_rows=1000))
        finally:
            await empty_tables(engine)
            async with engine.begin() as connection:
                await connection.execute(
                    text(
                        "CREATE INDEX IF NOT EXISTS ix_events_received_at_id "
                        "ON events (received_at, id)"
                    )
                )
        first_two = report.findings[:2]
        missing = [f for f in first_two if f.code == "db.missing_index"]
        assert missing, report.findings
        assert missing[0].subject == "analytics copy"
        assert "events (received_at" in missing[0].recommendation
        assert "SCAN events" in str(missing[0].evidence["plan"])


class TestSlowStatementLog:
    def test_only_slow_statements_are_kept_and_the_buffer_is_bounded(self) -> None:
        log = SlowStatementLog(threshold_seconds=0.05, capacity=3)
        log.record("SELECT fast", 0.01)
        for n in range(5):
            log.record(f"SELECT slow {n}", 0.2)
        assert [e.statement for e in log.entries()] == [
            "SELECT slow 2",
            "SELECT slow 3",
            "SELECT slow 4",
        ]

    async def test_the_engine_times_its_statements(self, data_root: object) -> None:
        engine = create_async_engine("sqlite+aiosqlite://")
        log = install_slow_log(engine, threshold_seconds=0.0)
        assert install_slow_log(engine) is log  # one log per engine
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 42"))
                with pytest.raises(Exception, match="no such table"):
                    await connection.execute(text("SELECT * FROM missing_table"))
                await connection.execute(text("SELECT 43"))
        finally:
            await engine.dispose()
        statements = [e.statement for e in log.entries()]
        assert "SELECT 42" in statements
        assert "SELECT 43" in statements
        report_entries = [e for e in log.entries() if e.statement == "SELECT 43"]
        assert report_entries[0].seconds >= 0


class TestAppWiring:
    async def test_an_sqlite_instance_keeps_a_slow_statement_log(self, tmp_path: Path) -> None:
        from intuitivus_flow.config import Settings
        from intuitivus_flow.context import AppContext
        from intuitivus_flow.performance.database.slowlog import slow_log_of

        settings = Settings(
            env="test", data_dir=tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path}/a.db"
        )
        context = AppContext.build(settings)
        try:
            assert slow_log_of(context.engine) is not None
        finally:
            await context.close()
