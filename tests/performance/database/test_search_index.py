"""The contact search's trigram index (migration trgm_contact_search), on both engines: built
on PostgreSQL (CONCURRENTLY, with pg_trgm) and chosen by the planner for the repository's own
search statement at realistic rows; absent on SQLite, where the search scans as before; the
search takes a typed % or _ literally; up and down; and the advisor proves the same index."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from importlib import import_module
from typing import Any

import pytest
from sqlalchemy import Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from intuitivus_flow.config import Settings
from intuitivus_flow.contacts.models import Contact
from intuitivus_flow.contacts.repository import ContactRepository
from intuitivus_flow.kit import migrations
from intuitivus_flow.kit.db import create_engine, create_session_factory
from intuitivus_flow.performance.database import advisor
from intuitivus_flow.performance.database.hot_queries import HOT_QUERIES
from intuitivus_flow.workspaces.models import Workspace
from tests.conftest import PG_HOST, PG_PORT, PG_USER, _admin, _create_postgres_database

MIGRATION = import_module("intuitivus_flow.migrations.versions.20261207_trgm_contact_search")
INDEX = MIGRATION.NAME
_PARENTS = MIGRATION.down_revision
# Down to one parent (when it merges two, the other goes down too: it is no ancestor).
BEFORE = _PARENTS if isinstance(_PARENTS, str) else _PARENTS[0]
SEARCH = next(q for q in HOT_QUERIES if q.name == "contacts search")
MANY = 20_000  # contacts in one workspace: enough for the planner to prefer the index


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AsyncEngine]:
    tmp = tmp_path_factory.mktemp("search")
    pg_name = None
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp / 'search.db'}"
    else:
        pg_name = await _create_postgres_database()
        url = f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{pg_name}"
    engine = create_engine(Settings(env="test", data_dir=tmp, database_url=url))
    await migrations.upgrade(engine)
    yield engine
    await engine.dispose()
    if pg_name:
        await _admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


@pytest.fixture(scope="module")
async def workspace(engine: AsyncEngine) -> uuid.UUID:
    """One workspace with a few hand-written contacts (and, on PostgreSQL, MANY more)."""
    sessions = create_session_factory(engine)
    async with sessions.begin() as session:
        owner = Workspace(name="search")
        session.add(owner)
        await session.flush()
        session.add_all(
            [
                Contact(workspace_id=owner.id, name="Discount 50% Ana", phone="+14155550100"),
                Contact(workspace_id=owner.id, name="Discount 500 Bo", email="BO@example.com"),
                Contact(workspace_id=owner.id, name="snake_case Cy"),
                Contact(workspace_id=owner.id, name="snakeXcase Di"),
            ]
        )
        workspace_id = owner.id
    if engine.dialect.name == "postgresql":
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO contacts (id, workspace_id, name, phone, attributes, opt_in, "
                    "updated_at, created_at) SELECT gen_random_uuid(), :ws, 'contact ' || g, "
                    "'+1666' || lpad(g::text, 7, '0'), '{}', 'opted_in', now(), "
                    "now() - g * interval '1 minute' FROM generate_series(1, :n) g"
                ),
                {"ws": workspace_id, "n": MANY},
            )
        async with engine.connect() as connection:
            # As autovacuum would: rows inserted after a GIN index wait in its pending list,
            # which every search reads in full until a vacuum merges it into the index.
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM ANALYZE contacts"))
    return workspace_id


async def _names(engine: AsyncEngine, workspace: uuid.UUID, term: str) -> list[str]:
    async with create_session_factory(engine)() as session:
        repository = ContactRepository(session, workspace)
        page = await repository.paginate(repository.listing(search=term), limit=50, offset=0)
    return sorted(c.name for c in page.items)


async def _index(engine: AsyncEngine) -> tuple[bool, bool] | None:
    """(valid, pg_trgm installed) of the search index, or None when it does not exist."""
    async with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            found = await connection.execute(
                text("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = :n"),
                {"n": INDEX},
            )
            return (True, False) if found.first() else None
        row = (
            await connection.execute(
                text(
                    "SELECT i.indisvalid, EXISTS (SELECT 1 FROM pg_extension "
                    "WHERE extname = 'pg_trgm') FROM pg_index i "
                    "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = :n"
                ),
                {"n": INDEX},
            )
        ).first()
        return None if row is None else (bool(row[0]), bool(row[1]))


def _literal_sql(engine: AsyncEngine, statement: Select[Any]) -> str:
    compiled = statement.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
    return str(compiled)


class TestSearch:
    async def test_a_typed_percent_or_underscore_is_a_character(
        self, engine: AsyncEngine, workspace: uuid.UUID
    ) -> None:
        assert await _names(engine, workspace, "50%") == ["Discount 50% Ana"]
        assert await _names(engine, workspace, "e_c") == ["snake_case Cy"]
        assert await _names(engine, workspace, "discount 50") == [
            "Discount 50% Ana",
            "Discount 500 Bo",
        ]

    async def test_email_and_phone_match_and_a_missing_one_fails_only_its_branch(
        self, engine: AsyncEngine, workspace: uuid.UUID
    ) -> None:
        assert await _names(engine, workspace, "bo@EXAMPLE") == ["Discount 500 Bo"]
        assert await _names(engine, workspace, "4155550100") == ["Discount 50% Ana"]
        assert await _names(engine, workspace, "snakexcase") == ["snakeXcase Di"]


class TestMigration:
    async def test_the_index_exists_on_postgresql_only(self, engine: AsyncEngine) -> None:
        if engine.dialect.name == "sqlite":
            assert await _index(engine) is None  # no trigrams: the search scans, as before
        else:
            assert await _index(engine) == (True, True)

    async def test_the_planner_serves_the_search_and_its_total_from_the_index(
        self, engine: AsyncEngine, workspace: uuid.UUID
    ) -> None:
        if engine.dialect.name == "sqlite":
            pytest.skip("SQLite has no trigram index")
        async with create_session_factory(engine)() as session:
            repository = ContactRepository(session, workspace)
            # A fragment of a number: rare trigrams. (A term every name shares a word with,
            # "contact 4242" here, reads long posting lists: the planner rightly scans 20 k rows.)
            listing = repository.listing(search="4242")
            statements = [
                listing.limit(50),
                select(func.count()).select_from(listing.order_by(None).subquery()),
            ]
        async with engine.connect() as connection:
            for statement in statements:
                plan = "\n".join(
                    (await connection.execute(text("EXPLAIN " + _literal_sql(engine, statement))))
                    .scalars()
                    .all()
                )
                assert f"Bitmap Index Scan on {INDEX}" in plan, plan
        assert await _names(engine, workspace, "4242") == ["contact 14242", "contact 4242"]

    async def test_down_and_up_again_and_a_failed_concurrent_build_is_redone(
        self, engine: AsyncEngine
    ) -> None:
        await migrations.downgrade(engine, BEFORE)
        assert await _index(engine) is None
        await migrations.upgrade(engine)
        if engine.dialect.name == "sqlite":
            assert await _index(engine) is None
            return
        assert await _index(engine) == (True, True)
        # What an interrupted CREATE INDEX CONCURRENTLY leaves: an index marked invalid.
        await migrations.downgrade(engine, BEFORE)
        async with engine.begin() as connection:
            await connection.execute(
                text(f"CREATE INDEX {INDEX} ON contacts {MIGRATION.DEFINITION}")
            )
            await connection.execute(
                text(
                    f"UPDATE pg_index SET indisvalid = false WHERE indexrelid = '{INDEX}'::regclass"
                )
            )
        assert await _index(engine) == (False, True)
        await migrations.upgrade(engine)
        assert await _index(engine) == (True, True)
        assert (await migrations.is_current(engine))[0]


class TestAdvisor:
    async def test_it_proves_the_migrations_index_on_a_scratch_copy(
        self, engine: AsyncEngine, workspace: uuid.UUID
    ) -> None:
        if engine.dialect.name == "sqlite":
            pytest.skip("the advisor is PostgreSQL's")
        async with engine.begin() as connection:
            await connection.execute(text("CREATE EXTENSION IF NOT EXISTS hypopg"))
            await connection.execute(text(f"DROP INDEX {INDEX}"))
            await connection.execute(text("DROP EXTENSION pg_trgm"))
        try:
            async with engine.connect() as connection:
                advice = await advisor.advise_statement(connection, SEARCH.sql, verify=True)
                left = await connection.execute(
                    text("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")
                )
                assert left.scalar_one() == 0  # installed for the proof only, rolled back
            assert advice is not None
            assert advice.candidate.trigram
            assert advice.candidate.name == INDEX  # what the migration builds, by name too
            assert advisor.create_statements(advice.candidate) == (
                f"CREATE EXTENSION IF NOT EXISTS pg_trgm; CREATE INDEX CONCURRENTLY {INDEX} ON "
                f"contacts {MIGRATION.DEFINITION};"
            )
            assert advice.ms_before is not None
            assert advice.ms_after is not None
            assert advice.ms_after * 3 < advice.ms_before  # measured, not only planned
            assert advice.cost_after < advice.cost_before
            assert "LIKE '%" in advice.statement  # the pattern bound from a sampled row
        finally:
            await migrations.downgrade(engine, BEFORE)
            await migrations.upgrade(engine)
        assert await _index(engine) == (True, True)
