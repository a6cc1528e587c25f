"""What the repository base's tenant criteria cost per statement.

    python benchmarks/tenant_scoping.py [--rounds 5] [--calls 500]

Runs the same repository calls (a contact by id, the contact list filtered by two tags: a
subquery on a second workspace-owned table) on a file SQLite database with two workspaces,
once as the code ships (`restrict_to_workspace` on every statement) and once with the
restriction switched off (the hand-written `scoped()` filter alone, the baseline). Prints the
best round's microseconds per call and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from intuitivus_flow.contacts.models import Contact, ContactTag
from intuitivus_flow.contacts.repository import ContactRepository
from intuitivus_flow.kit import repository as base
from intuitivus_flow.models import Base
from intuitivus_flow.workspaces.models import Workspace

CONTACTS = 200


async def seed(session: AsyncSession) -> tuple[uuid.UUID, list[uuid.UUID]]:
    ids: list[uuid.UUID] = []
    own = uuid.uuid4()
    for workspace_id in (own, uuid.uuid4()):
        session.add(Workspace(id=workspace_id, name=str(workspace_id)))
        await session.flush()
        for index in range(CONTACTS):
            contact = Contact(workspace_id=workspace_id, name=f"c{index}")
            contact.tag_rows = [
                ContactTag(workspace_id=workspace_id, tag="a"),
                ContactTag(workspace_id=workspace_id, tag="b" if index % 2 else "c"),
            ]
            session.add(contact)
            await session.flush()
            if workspace_id == own:
                ids.append(contact.id)
    await session.commit()
    return own, ids


async def per_call(calls: int, call: Callable[[int], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    for index in range(calls):
        await call(index)
    return (time.perf_counter() - started) / calls * 1e6


async def main(rounds: int, calls: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        engine = create_async_engine(f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}")
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        async with AsyncSession(engine, expire_on_commit=False) as session:
            own, ids = await seed(session)
            contacts = ContactRepository(session, own)

            async def by_id(index: int) -> None:
                await contacts.get(ids[index % len(ids)])
                session.expunge_all()

            async def tagged(index: int) -> None:
                await contacts.all(contacts.listing(tags=["a", "b"]).limit(20))
                session.expunge_all()

            shipped = base.WorkspaceRepository.restrict

            def unrestricted(self: Any, statement: Any) -> Any:
                return statement

            print(f"{'call':<28}{'baseline us':>14}{'scoped us':>12}{'ratio':>8}")
            for label, call in (("contact by id", by_id), ("contacts with two tags", tagged)):
                await per_call(calls, call)  # warm the statement caches of both variants
                baseline = scoped = float("inf")
                # Rounds alternate the variants, so a noisy moment on the machine hits both.
                for _ in range(rounds):
                    base.WorkspaceRepository.restrict = unrestricted  # type: ignore[method-assign]
                    baseline = min(baseline, await per_call(calls, call))
                    base.WorkspaceRepository.restrict = shipped  # type: ignore[method-assign]
                    scoped = min(scoped, await per_call(calls, call))
                print(f"{label:<28}{baseline:>14.0f}{scoped:>12.0f}{scoped / baseline:>8.2f}")
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=500)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.rounds, arguments.calls))
