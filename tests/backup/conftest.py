"""Scratch databases of their own for the backup tests: a restore replaces a whole database,
so these tests never use the shared per-run database of tests/conftest.py."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from intuitivus_flow.auth import service as auth
from intuitivus_flow.backup.databases import sqlite_path
from intuitivus_flow.backup.store import LocalStore
from intuitivus_flow.billing.models import Invoice, Payment
from intuitivus_flow.config import Settings
from intuitivus_flow.kit import migrations
from intuitivus_flow.kit.db import create_engine, create_session_factory, unit_of_work
from tests.conftest import PG_HOST, PG_PORT, PG_USER, _admin, _postgres_reachable, require_service


@dataclass
class Place:
    """One engine's databases for a module: `make_settings()` names a new, not yet created
    database; `make_database()` creates one, migrated, from a template (a file copy on
    SQLite, `CREATE DATABASE ... TEMPLATE` on PostgreSQL: much faster than migrating)."""

    kind: str
    root: Path
    created: list[str] = field(default_factory=list)
    template: Settings | None = None

    def make_settings(self) -> Settings:
        if self.kind == "sqlite":
            url = f"sqlite+aiosqlite:///{self.root / f'{uuid.uuid4().hex[:8]}.db'}"
        else:
            name = f"flow_backup_{uuid.uuid4().hex[:10]}"
            self.created.append(name)
            url = f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
        return Settings(
            env="test", data_dir=self.root, database_url=url, backup_dir=self.root / "backups"
        )

    async def make_database(self) -> Settings:
        settings = self.make_settings()
        if self.template is None:
            await self._create(settings)
            engine = create_engine(settings)
            try:
                await migrations.upgrade(engine)
            finally:
                await engine.dispose()
            self.template = settings
            return await self.make_database()
        if self.kind == "sqlite":
            shutil.copyfile(
                sqlite_path(self.template.resolved_database_url),
                sqlite_path(settings.resolved_database_url),
            )
        else:
            await self._create(settings, template=self.template)
        return settings

    async def _create(self, settings: Settings, template: Settings | None = None) -> None:
        if self.kind == "sqlite":
            return
        name = settings.resolved_database_url.rsplit("/", 1)[1]
        source = (
            ""
            if template is None
            else (f' TEMPLATE "{template.resolved_database_url.rsplit("/", 1)[1]}"')
        )
        await _admin(f'CREATE DATABASE "{name}"{source}')

    def store(self) -> LocalStore:
        """A store of the test's own (the module's tests share the databases' directory)."""
        return LocalStore(self.root / f"backups-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def place(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Place]:
    if request.param == "postgresql":
        problem = await _postgres_reachable()
        if problem:
            require_service("PostgreSQL", problem)
    found = Place(request.param, tmp_path_factory.mktemp(f"backup-{request.param}"))
    yield found
    for name in found.created:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def seed(settings: Settings, *, paid_without_payment: bool = False) -> None:
    """A workspace with its owner, an open invoice and a paid one with its payment."""
    engine = create_engine(settings)
    try:
        async with unit_of_work(create_session_factory(engine)) as session:
            owner = await auth.create_workspace_with_owner(
                session,
                email=f"{uuid.uuid4().hex[:8]}@example.com",
                password="correct horse battery staple",
                name="Owner",
                workspace_name="Backed up",
            )
            workspace_id = owner.workspace_id
            number = uuid.uuid4().hex[:8]
            session.add(
                Invoice(
                    workspace_id=workspace_id,
                    number=f"OPEN-{number}",
                    amount_minor=1000,
                    currency="EUR",
                )
            )
            paid = Invoice(
                workspace_id=workspace_id,
                number=f"PAID-{number}",
                amount_minor=2500,
                currency="EUR",
                status="paid",
                paid_at=datetime.now(UTC),
            )
            session.add(paid)
            await session.flush()
            if not paid_without_payment:
                session.add(
                    Payment(
                        workspace_id=workspace_id,
                        invoice_id=paid.id,
                        amount_minor=2500,
                        currency="EUR",
                        status="succeeded",
                        gateway="manual",
                    )
                )
    finally:
        await engine.dispose()
