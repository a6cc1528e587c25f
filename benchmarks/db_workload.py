"""The product's own slow queries at realistic volumes, found by running its code paths, and
what the index advisor does for the five slowest.

    PYTHONPATH=. python benchmarks/db_workload.py            # 1 M events, 100 k contacts,
    PYTHONPATH=. python benchmarks/db_workload.py --events 100000 --contacts 10000 \\
        --messages 100000 --jobs 20000 --repeat 3              # a quick look

`db_advisor.py` times a catalogue of hand-written statements (hot_queries.py); this one runs
the repositories and services themselves, as the pages and the API call them, so the
statements are exactly what SQLAlchemy sends. On a throw-away cluster (pg_stat_statements,
HypoPG), migrated to the current head less the indexes of migrations dbwl_inbox_index and
trgm_contact_search (which this benchmark justified), and seeded like db_advisor.py:

1. the workload: inbox listings (all, by state), contact listings (all, a search), the
   dashboard's aggregates, events by name, a conversation's history, campaign listing and
   totals, a metric series; each `--repeat` times per workspace;
2. the five statements with the highest mean time in pg_stat_statements;
3. for each, the advisor (HypoPG, proven on a scratch copy) and, in the same run, its median
   server time (EXPLAIN ANALYZE) before and after the advised index is created.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import import_module

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from tests.performance.database.cluster import statistics_postgres
from tests.performance.database.seeding import WORKSPACES, Volumes, seed

from intuitivus_flow.campaigns.repository import CampaignReportRepository, CampaignRepository
from intuitivus_flow.contacts.repository import ContactRepository
from intuitivus_flow.conversations.repository import ConversationRepository, MessageRepository
from intuitivus_flow.dashboard.repository import DashboardQueries
from intuitivus_flow.dashboard.service import compute
from intuitivus_flow.events.repository import EventRepository
from intuitivus_flow.kit import migrations
from intuitivus_flow.kit.db import create_session_factory
from intuitivus_flow.metrics_history.repository import MetricRepository
from intuitivus_flow.performance.database import advisor

# The migrations of the indexes this benchmark justified (dropped first, so the advisor has
# to find them again).
MIGRATIONS = (
    "intuitivus_flow.migrations.versions.20261207_dbwl_inbox_index",
    "intuitivus_flow.migrations.versions.20261207_trgm_contact_search",
)
TARGET_SPEEDUP = 5.0
PAGE = 50


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def workspace_ids() -> list[uuid.UUID]:
    # seeding.py names its workspaces md5('ws' || g)::uuid.
    import hashlib

    return [uuid.UUID(hashlib.md5(f"ws{g}".encode()).hexdigest()) for g in range(WORKSPACES)]


Step = Callable[[AsyncSession, uuid.UUID], Awaitable[object]]


async def inbox_all(session: AsyncSession, ws: uuid.UUID) -> object:
    repository = ConversationRepository(session, ws)
    return await repository.paginate(repository.inbox(state=None), limit=PAGE, offset=0)


async def inbox_open(session: AsyncSession, ws: uuid.UUID) -> object:
    repository = ConversationRepository(session, ws)
    return await repository.paginate(repository.inbox(state="open"), limit=PAGE, offset=0)


async def inbox_escalated_page_3(session: AsyncSession, ws: uuid.UUID) -> object:
    repository = ConversationRepository(session, ws)
    return await repository.paginate(
        repository.inbox(state="escalated"), limit=PAGE, offset=2 * PAGE
    )


async def contacts_listing(session: AsyncSession, ws: uuid.UUID) -> object:
    repository = ContactRepository(session, ws)
    return await repository.paginate(repository.listing(), limit=PAGE, offset=0)


async def contacts_search(session: AsyncSession, ws: uuid.UUID) -> object:
    repository = ContactRepository(session, ws)
    return await repository.paginate(repository.listing(search="ana silva"), limit=PAGE, offset=0)


async def dashboard(session: AsyncSession, ws: uuid.UUID) -> object:
    return await compute(DashboardQueries(session, ws))


async def events_by_name(session: AsyncSession, ws: uuid.UUID) -> object:
    repository = EventRepository(session, ws)
    return await repository.paginate(repository.recent(name="event_7"), limit=PAGE, offset=0)


async def conversation_history(session: AsyncSession, ws: uuid.UUID) -> object:
    conversations = ConversationRepository(session, ws)
    page = await conversations.all(conversations.inbox(state=None).limit(1))
    if not page:
        return None
    return await MessageRepository(session, ws).history(page[0].id, limit=20)


async def campaigns(session: AsyncSession, ws: uuid.UUID) -> object:
    repository = CampaignRepository(session, ws)
    listed = await repository.paginate(
        repository.listing(status=None, platform=None), limit=PAGE, offset=0
    )
    return await CampaignReportRepository(session, ws).totals([c.id for c in listed.items])


async def metric_series(session: AsyncSession, ws: uuid.UUID) -> object:
    end = datetime.now(UTC)
    return await MetricRepository(session).buckets(
        "flow_http_requests_total", start=end - timedelta(hours=6), end=end, step_seconds=60,
        instance=None,
    )  # fmt: skip


WORKLOAD: dict[str, Step] = {
    "inbox": inbox_all,
    "inbox, open": inbox_open,
    "inbox, escalated, page 3": inbox_escalated_page_3,
    "contacts listing": contacts_listing,
    "contacts search": contacts_search,
    "dashboard": dashboard,
    "events by name": events_by_name,
    "conversation history": conversation_history,
    "campaigns and totals": campaigns,
    "metric series": metric_series,
}


@dataclass
class Slow:
    query: str
    calls: int
    mean_ms: float
    before_ms: float = 0.0
    after_ms: float = 0.0
    advice: advisor.Advice | None = None


TOP = """
SELECT query, calls, mean_exec_time FROM pg_stat_statements
WHERE query ILIKE 'select%' AND query NOT ILIKE '%pg_stat%' AND query NOT ILIKE '%pg_catalog%'
  AND query NOT ILIKE '%alembic%' AND query NOT ILIKE '%information_schema%'
ORDER BY mean_exec_time DESC LIMIT :n
"""


def prebound(query: str) -> str:
    """The workload's own values for the parameters the advisor cannot read from the data
    (it binds those compared with a column): page size and offset, the search pattern."""
    cast = r"(?:::\w+)?"  # SQLAlchemy's asyncpg dialect casts some: $2::VARCHAR
    query = re.sub(rf"LIMIT \$\d+{cast}", f"LIMIT {PAGE}", query)
    query = re.sub(rf"OFFSET \$\d+{cast}", "OFFSET 0", query)
    return re.sub(rf"LIKE \$\d+{cast}", "LIKE '%ana silva%'", query, flags=re.IGNORECASE)


def shown(query: str) -> str:
    """The statement without its column lists, which SQLAlchemy spells out in full."""
    flat = re.sub(r"SELECT (?!count\(\*\)).*? FROM", "SELECT … FROM", " ".join(query.split()))
    return flat[:220].replace("|", "\\|")


async def run_workload(engine: AsyncEngine, repeat: int) -> dict[str, float]:
    sessions = create_session_factory(engine)
    timings: dict[str, float] = {}
    for name, step in WORKLOAD.items():
        started = time.perf_counter()
        for _ in range(repeat):
            for ws in workspace_ids():
                async with sessions() as session:
                    await step(session, ws)
        timings[name] = (time.perf_counter() - started) * 1000 / (repeat * WORKSPACES)
        progress(f"workload {name:<26} {timings[name]:9.2f} ms a call (client side)")
    return timings


async def measure(engine: AsyncEngine, volumes: Volumes, repeat: int, runs: int) -> int:
    progress("migrating a throw-away cluster to the head")
    await migrations.upgrade(engine)
    async with engine.begin() as connection:
        # The schema before this benchmark's migrations, so the advisor has to find them.
        for migration in MIGRATIONS:
            for name in import_module(migration).INDEXES:
                await connection.execute(text(f"DROP INDEX IF EXISTS {name}"))
        await connection.execute(text("CREATE EXTENSION pg_stat_statements"))
        await connection.execute(text("CREATE EXTENSION hypopg"))
        progress(f"seeding {volumes}")
        started = time.perf_counter()
        await seed(connection, volumes)
    progress(f"seeded in {time.perf_counter() - started:.1f} s")
    async with engine.connect() as connection:
        # Set the visibility map now, as autovacuum would have on a live table: otherwise an
        # index-only count is slow before and fast after for no reason of the index's.
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("VACUUM (ANALYZE)"))
    progress("vacuumed")
    async with engine.connect() as connection:
        await connection.execute(text("SELECT pg_stat_statements_reset()"))
        await connection.commit()
    timings = await run_workload(engine, repeat)
    async with engine.connect() as connection:
        found = (await connection.execute(text(TOP), {"n": 5})).all()
        await connection.commit()
        slow = [Slow(str(q), int(c), float(m)) for q, c, m in found]
        for row in slow:
            progress(f"advisor on {row.query[:90]}...")
            bound = await advisor.bind(connection, prebound(row.query))
            if bound is None:
                progress("  a parameter not bindable from the data: not timed")
                continue
            row.before_ms = await advisor.timed(connection, bound, runs=runs)
            row.advice = await advisor.advise_statement(
                connection, prebound(row.query), verify=True
            )
            await connection.commit()
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        created: set[str] = set()
        for row in slow:
            if row.advice is not None and row.advice.candidate.name not in created:
                progress(f"creating {row.advice.candidate.ddl()}")
                await autocommit.execute(text(row.advice.candidate.ddl()))
                created.add(row.advice.candidate.name)
        await autocommit.execute(text("ANALYZE"))
    async with engine.connect() as connection:
        for row in slow:
            bound = await advisor.bind(connection, prebound(row.query))
            if bound is not None and row.before_ms:
                row.after_ms = await advisor.timed(connection, bound, runs=runs)
        await connection.commit()
    return report(timings, slow)


def report(timings: dict[str, float], slow: list[Slow]) -> int:
    print("\n## The workload (client side, mean per call, SQLAlchemy included)\n")
    print("| code path | ms a call |")
    print("|---|---:|")
    for name, ms in sorted(timings.items(), key=lambda item: -item[1]):
        print(f"| {name} | {ms:.2f} |")
    print("\n## The five slowest statements by mean (pg_stat_statements), advisor before/after\n")
    print("| statement | calls | mean ms (workload) | before ms | after ms | speed-up | "
          "plan cost | scratch ms | advised index |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---|---|---|")
    met = 0
    for row in slow:
        advice = row.advice
        # Without advice nothing changed between the two timings: their ratio is noise.
        ratio = row.before_ms / row.after_ms if advice and row.after_ms else 0.0
        met += ratio >= TARGET_SPEEDUP
        speedup = f"{ratio:.1f}x" if ratio else "-"
        cost = f"{advice.cost_before:.0f} -> {advice.cost_after:.0f}" if advice else "-"
        scratch = (
            f"{advice.ms_before:.2f} -> {advice.ms_after:.2f}"
            if advice and advice.ms_before is not None and advice.ms_after is not None
            else "-"
        )
        index = advice.candidate.ddl() if advice else "none"
        statement = shown(row.query)
        print(f"| `{statement}` | {row.calls} | {row.mean_ms:.2f} | {row.before_ms:.2f} | "
              f"{row.after_ms:.2f} | {speedup} | {cost} | {scratch} | `{index}` |")  # fmt: skip
    print(f"\nfive slowest at >= {TARGET_SPEEDUP:.0f}x: {met}/{len(slow)}")
    return 0 if slow and met == len(slow) else 1


async def run(volumes: Volumes, repeat: int, runs: int) -> int:
    with statistics_postgres(shared_buffers="256MB") as cluster:
        engine = create_async_engine(cluster.url, pool_size=2)
        try:
            return await measure(engine, volumes, repeat, runs)
        finally:
            await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    volumes = Volumes(args.events, args.contacts, args.messages, args.jobs)
    sys.exit(asyncio.run(run(volumes, args.repeat, args.runs)))


if __name__ == "__main__":
    main()
