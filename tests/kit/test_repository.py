"""The repository base: tenant criteria on every statement a workspace repository runs, count,
paginate, stream and row locks, on both engines; and a static check that no repository
module filters by workspace by hand or runs statements around the base."""

from __future__ import annotations

import ast
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, Table, Uuid, delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import aliased

import intuitivus_flow
from intuitivus_flow.contacts.models import Contact, ContactTag
from intuitivus_flow.kit.db import SessionFactory, create_session_factory, unit_of_work
from intuitivus_flow.kit.repository import (
    Repository,
    WorkspaceRepository,
    hold_write_lock,
    workspace_owned_entities,
)
from intuitivus_flow.workspaces.models import Workspace
from tests.conftest import Database, empty_tables

PACKAGE = Path(intuitivus_flow.__file__).parent


class Contacts(WorkspaceRepository[Contact]):
    model = Contact


class AllWorkspaces(Repository[Workspace]):
    model = Workspace


@pytest.fixture
async def sessions(database: Database) -> AsyncIterator[SessionFactory]:
    yield create_session_factory(database.engine)
    await empty_tables(database.engine)


async def seed(sessions: SessionFactory, contacts: int) -> uuid.UUID:
    """A workspace with `contacts` contacts, each tagged "vip"."""
    async with unit_of_work(sessions) as session:
        workspace = Workspace(name="w")
        session.add(workspace)
        await session.flush()
        for index in range(contacts):
            contact = Contact(
                workspace_id=workspace.id, name=f"c{index}", phone=f"+1555000{index:04d}"
            )
            contact.tag_rows = [ContactTag(workspace_id=workspace.id, tag="vip")]
            session.add(contact)
        return workspace.id


@pytest.fixture
async def two_workspaces(sessions: SessionFactory) -> tuple[uuid.UUID, uuid.UUID]:
    return await seed(sessions, 3), await seed(sessions, 2)


async def test_joins_aggregates_and_subqueries_see_only_the_tenants_rows(
    sessions: SessionFactory, two_workspaces: tuple[uuid.UUID, uuid.UUID]
) -> None:
    own, foreign = two_workspaces
    async with sessions() as session:
        contacts = Contacts(session, own)
        joined = select(Contact.id, ContactTag.tag).join(
            ContactTag, ContactTag.contact_id == Contact.id
        )
        assert len((await contacts.execute(joined)).all()) == 3
        assert await contacts.scalar(select(func.count()).select_from(ContactTag)) == 3
        tagged = select(Contact).where(Contact.id.in_(select(ContactTag.contact_id)))
        assert len(await contacts.all(tagged)) == 3
        other = aliased(Contact)
        assert await contacts.scalar(select(func.count(other.id))) == 3
        # Only columns of the entity, no FROM of its own: the columns' annotated table counts.
        by_name = select(Contact.name, func.count()).group_by(Contact.name)
        assert len((await contacts.execute(by_name)).all()) == 3
        assert await Contacts(session, foreign).count() == 2


async def test_updates_and_deletes_touch_only_the_tenants_rows(
    sessions: SessionFactory, two_workspaces: tuple[uuid.UUID, uuid.UUID]
) -> None:
    own, foreign = two_workspaces
    async with unit_of_work(sessions) as session:
        contacts = Contacts(session, own)
        renamed = await contacts.execute(
            update(Contact).values(name="renamed").execution_options(synchronize_session=False)
        )
        assert renamed.rowcount == 3
        await contacts.execute(delete(ContactTag).execution_options(synchronize_session=False))
    async with sessions() as session:
        names = (await Contacts(session, foreign).execute(select(Contact.name))).scalars()
        assert sorted(names) == ["c0", "c1"]
        assert await Contacts(session, foreign).scalar(select(func.count(ContactTag.id))) == 2


async def test_inserts_and_raw_sql_pass_through_unchanged(
    sessions: SessionFactory, two_workspaces: tuple[uuid.UUID, uuid.UUID]
) -> None:
    own, _ = two_workspaces
    async with sessions() as session:
        contacts = Contacts(session, own)
        statement = insert(Contact).values(workspace_id=own, name="n")
        assert contacts.restrict(statement) is statement
        raw = text("SELECT 1")
        assert contacts.restrict(raw) is raw
        assert workspace_owned_entities(select(Workspace.id)) == []
        unmapped = Table("unmapped_rows", MetaData(), Column("workspace_id", Uuid))
        with pytest.raises(LookupError, match="unmapped_rows is not mapped"):
            contacts.restrict(select(unmapped.c.workspace_id))


async def test_count_and_paginate(
    sessions: SessionFactory, two_workspaces: tuple[uuid.UUID, uuid.UUID]
) -> None:
    own, _ = two_workspaces
    async with sessions() as session:
        contacts = Contacts(session, own)
        assert await contacts.count() == 3
        assert await contacts.count(contacts.scoped().where(Contact.name == "c1")) == 1
        page = await contacts.paginate(contacts.scoped().order_by(Contact.name), limit=2, offset=1)
        assert [row.name for row in page.items] == ["c1", "c2"]
        assert (page.total, page.limit, page.offset) == (3, 2, 1)
        clamped = await contacts.paginate(contacts.scoped(), limit=10_000, offset=-5)
        assert (clamped.limit, clamped.offset, len(clamped.items)) == (100, 0, 3)
        assert await AllWorkspaces(session).count() == 2


async def test_stream_yields_every_row_in_batches(sessions: SessionFactory) -> None:
    own = await seed(sessions, 7)
    await seed(sessions, 4)
    async with sessions() as session:
        contacts = Contacts(session, own)
        names = [row.name async for row in contacts.stream(batch_size=3)]
        assert sorted(names) == [f"c{index}" for index in range(7)]
        ordered = contacts.scoped().order_by(Contact.name.desc())
        first_two = []
        async for row in contacts.stream(ordered, batch_size=2):
            first_two.append(row.name)
            if len(first_two) == 2:
                break
        assert first_two == ["c6", "c5"]


async def test_get_for_update_locks_the_row(
    database: Database, sessions: SessionFactory, two_workspaces: tuple[uuid.UUID, uuid.UUID]
) -> None:
    own, foreign = two_workspaces
    async with sessions() as session:
        target = await Contacts(session, own).first(select(Contact))
        assert target is not None
    async with unit_of_work(sessions) as holder:
        locked = await Contacts(holder, own).get_for_update(target.id)
        assert locked is not None
        assert locked.id == target.id
        assert await Contacts(holder, foreign).get_for_update(target.id) is None
        async with sessions() as other:
            if database.kind == "postgresql":
                attempt = (
                    select(Contact).where(Contact.id == target.id).with_for_update(nowait=True)
                )
                with pytest.raises(DBAPIError, match="could not obtain lock"):
                    await other.execute(attempt)
            else:
                raw = await (await holder.connection()).get_raw_connection()
                assert raw.driver_connection.in_transaction
                # A transaction that has already written keeps its lock: no second BEGIN.
                await hold_write_lock(holder)


SESSION_CALLS = {"execute", "scalar", "scalars", "stream", "stream_scalars", "get"}


def _workspace_repository_classes(tree: ast.Module) -> list[ast.ClassDef]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any(
            name in ast.unparse(base)
            for base in node.bases
            for name in ("WorkspaceRepository", "WorkspaceQueries")
        )
    ]


def _hand_written_scoping(cls: ast.ClassDef) -> list[str]:
    """`self.session.execute(...)` and `<x>.workspace_id == self.workspace_id` in a class."""
    found = []
    for node in ast.walk(cls):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in SESSION_CALLS
            and ast.unparse(node.value) == "self.session"
        ):
            found.append(f"{cls.name}: self.session.{node.attr} (run it through the base)")
        if (
            isinstance(node, ast.Compare)
            and "workspace_id" in ast.unparse(node.left)
            and any("self.workspace_id" in ast.unparse(right) for right in node.comparators)
        ):
            found.append(f"{cls.name}: {ast.unparse(node)} (the base adds it)")
    return found


def test_no_workspace_repository_scopes_by_hand() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative == "kit/repository.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for cls in _workspace_repository_classes(tree):
            offenders += [
                f"{path.relative_to(PACKAGE)}: {line}" for line in _hand_written_scoping(cls)
            ]
    assert offenders == []


def test_the_static_check_catches_both_kinds_of_bypass() -> None:
    source = (
        "class Leaky(WorkspaceRepository[X]):\n"
        "    async def f(self):\n"
        "        await self.session.execute(select(X).where(X.workspace_id == self.workspace_id))\n"
    )
    (cls,) = _workspace_repository_classes(ast.parse(source))
    assert len(_hand_written_scoping(cls)) == 2
