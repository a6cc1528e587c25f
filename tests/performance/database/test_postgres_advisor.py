"""On a throw-away cluster that preloads pg_stat_statements and has HypoPG: the missing index
behind the slowest statement is ranked first or second with its CREATE INDEX, the advisor proves
it on a scratch copy, and once it exists the same workload raises no bottleneck."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from chaos.processes import ProcessError, ThrowawayPostgres, postgres_bin
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from intuitivus_flow.kit import migrations
from intuitivus_flow.performance.database import Thresholds, advisor, analyze_database
from intuitivus_flow.performance.database.hot_queries import HOT_QUERIES
from intuitivus_flow.performance.findings import Severity
from tests.cli.test_cli import run_cli
from tests.conftest import IN_CI, require_service
from tests.performance.database.cluster import hypopg_available, statistics_postgres
from tests.performance.database.seeding import Volumes, seed

pytestmark = pytest.mark.slow

# Small tables keep the test fast; the thresholds are scaled down with them (the benchmark
# runs the same analysis at a million rows with the defaults).
LIMITS = Thresholds(slow_mean_ms=1.0, large_table_rows=5_000)
COPY = next(q for q in HOT_QUERIES if q.name == "analytics copy")


@pytest.fixture(scope="module")
def cluster() -> Iterator[ThrowawayPostgres]:
    bin_dir = postgres_bin()
    if bin_dir is None:
        require_service("PostgreSQL server binaries", "none under /usr/lib/postgresql")
        return
    if not hypopg_available(bin_dir):
        message = "HypoPG is not installed (postgresql-15-hypopg; .ci/run installs it)"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    try:
        with statistics_postgres() as server:
            yield server
    except ProcessError as error:
        require_service("a throw-away PostgreSQL", str(error))


@pytest.fixture(scope="module")
async def engine(cluster: ThrowawayPostgres) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(cluster.url)
    await migrations.upgrade(engine)
    async with engine.begin() as connection:
        await connection.execute(text("CREATE EXTENSION pg_stat_statements"))
        await connection.execute(text("CREATE EXTENSION hypopg"))
        await seed(connection, Volumes(events=30_000, contacts=300, messages=3_000, jobs=3_000))
        # The seeded fault: the analytics copy's index is missing.
        await connection.execute(text("DROP INDEX IF EXISTS ix_events_received_at_id"))
    yield engine
    await engine.dispose()


async def _workload(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT pg_stat_statements_reset()"))
        statements = [await advisor.bind(connection, q.sql) for q in HOT_QUERIES]
        # Both counters start here: statements and table scans count this workload only.
        await connection.execute(text("SELECT pg_stat_statements_reset()"))
        await connection.execute(text("SELECT pg_stat_reset()"))
        for _ in range(10):
            for statement in statements:
                assert statement is not None
                await connection.execute(text(statement))
        await connection.rollback()  # the claim's FOR UPDATE locks nothing afterwards


class TestMissingIndex:
    async def test_it_ranks_first_or_second_with_the_index_to_create(
        self, engine: AsyncEngine
    ) -> None:
        await _workload(engine)
        report = await analyze_database(engine, thresholds=LIMITS)
        codes = [f.code for f in report.findings[:2]]
        assert "db.missing_index" in codes, report.findings[:4]
        finding = report.findings[codes.index("db.missing_index")]
        assert finding.severity in (Severity.CRITICAL, Severity.WARNING)
        assert finding.recommendation.startswith("CREATE INDEX CONCURRENTLY")
        assert "ON events (received_at" in finding.recommendation
        assert float(finding.evidence["cost_after"]) * 2 <= float(finding.evidence["cost_before"])
        # Either form of the copy's read (first batch, or after a cursor) is the slow one.
        assert "FROM events WHERE" in finding.subject
        assert "received_at" in finding.subject

    async def test_the_advisor_proves_it_on_a_scratch_copy(self, engine: AsyncEngine) -> None:
        async with engine.connect() as connection:
            advice = await advisor.advise_statement(connection, COPY.sql, verify=True)
            left = await connection.execute(
                text("SELECT count(*) FROM pg_namespace WHERE nspname = :n"),
                {"n": advisor.SCRATCH},
            )
            assert left.scalar_one() == 0  # the scratch copy was rolled back
        assert advice is not None
        assert advice.candidate.table == "events"
        assert advice.ms_before is not None
        assert advice.ms_after is not None
        assert advice.ms_after * 3 < advice.ms_before  # measured, not only planned

    async def test_once_created_the_same_workload_has_no_bottleneck(
        self, engine: AsyncEngine
    ) -> None:
        async with engine.connect() as connection:
            advice = await advisor.advise_statement(connection, COPY.sql, verify=False)
        assert advice is not None
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text(advice.candidate.ddl()))
        try:
            await _workload(engine)
            report = await analyze_database(
                engine, thresholds=Thresholds(large_table_rows=LIMITS.large_table_rows)
            )
        finally:
            async with engine.begin() as connection:
                await connection.execute(text(f"DROP INDEX {advice.candidate.name}"))
        bottlenecks = [
            f for f in report.findings if f.severity in (Severity.CRITICAL, Severity.WARNING)
        ]
        assert bottlenecks == []
        assert all(s.reason for s in report.skipped)
        assert any(f.code == "db.top_statement" for f in report.findings)


class TestAdviseCommand:
    def test_it_prints_the_proven_create_index(
        self, engine: AsyncEngine, cluster: ThrowawayPostgres, tmp_path: Path
    ) -> None:
        result = run_cli(
            "perf", "advise", "--statement", COPY.sql, "--json",
            data_dir=tmp_path, extra_env={"FLOW_DATABASE_URL": cluster.url},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        (advised,) = json.loads(result.stdout)
        assert advised["create_index"].startswith("CREATE INDEX CONCURRENTLY")
        assert "ON events (received_at" in advised["create_index"]
        assert advised["ms_after"] < advised["ms_before"]

    def test_sqlite_gets_one_readable_line(self, tmp_path: Path) -> None:
        result = run_cli("perf", "advise", data_dir=tmp_path)
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [
            "error: the index advisor needs PostgreSQL (HypoPG); on SQLite `perf analyze` "
            "reads the hot queries' plans"
        ]
