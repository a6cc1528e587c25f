"""All application-database SQL of the collection API and of the copy to the store."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.analytics.models import CollectedEvent, Identity, WriteKey
from intuitivus_flow.contacts.models import Contact
from intuitivus_flow.events.models import Event
from intuitivus_flow.kit.repository import Repository, WorkspaceQueries, WorkspaceRepository

Cursor = tuple[datetime, uuid.UUID | None]


class WriteKeyRepository(WorkspaceRepository[WriteKey]):
    model = WriteKey
    not_found_message = "Write key not found"

    async def listed(self) -> Sequence[WriteKey]:
        return await self.all(self.scoped().order_by(WriteKey.created_at))


class WriteKeyLookup(Repository[WriteKey]):
    """The collection API's credential check: a key digest names its workspace."""

    model = WriteKey

    async def active_by_digest(self, digest: str) -> WriteKey | None:
        return await self.first(
            self.scoped().where(WriteKey.key_digest == digest, WriteKey.revoked_at.is_(None))
        )

    async def active_origin_lists(self) -> list[list[str]]:
        """Every active key's allowed origins, in no order (the CORS preflight matches them in
        Python: wildcard entries are not a plain comparison)."""
        rows = await self.execute(
            select(WriteKey.allowed_origins).where(WriteKey.revoked_at.is_(None))
        )
        return [list(row[0]) for row in rows if row[0]]


class CollectedEventRepository(WorkspaceRepository[CollectedEvent]):
    model = CollectedEvent

    async def taken_message_ids(self, message_ids: Sequence[str]) -> set[str]:
        if not message_ids:
            return set()
        rows = await self.execute(
            self.restrict(
                select(CollectedEvent.message_id).where(
                    CollectedEvent.message_id.in_(list(message_ids))
                )
            )
        )
        return {row[0] for row in rows}

    async def insert_new(self, rows: list[dict[str, Any]]) -> int:
        """Insert, skipping a message id a concurrent call stored first (the unique
        constraint); the number inserted."""
        if not rows:
            return 0
        for row in rows:
            row["workspace_id"] = self.workspace_id
        insert = pg_insert if _dialect(self.session) == "postgresql" else sqlite_insert
        inserted = 0
        for start in range(0, len(rows), 1000):  # under both engines' bound-parameter limits
            statement = (
                insert(CollectedEvent)
                .values(rows[start : start + 1000])
                .on_conflict_do_nothing(index_elements=["workspace_id", "message_id"])
                .returning(CollectedEvent.id)
            )
            inserted += len((await self.execute(statement)).all())
        return inserted


class IdentityRepository(WorkspaceQueries):
    """Identities have no id column of their own (workspace + distinct id is the key)."""

    owns = (Identity,)

    async def persons_of(self, distinct_ids: Sequence[str]) -> dict[str, str]:
        if not distinct_ids:
            return {}
        rows = await self.execute(
            self.restrict(
                select(Identity.distinct_id, Identity.person_id).where(
                    Identity.distinct_id.in_(list(set(distinct_ids)))
                )
            )
        )
        return dict(rows.tuples().all())

    async def link(self, distinct_id: str, person_id: str, contact_id: uuid.UUID | None) -> None:
        values = {
            "workspace_id": self.workspace_id,
            "distinct_id": distinct_id,
            "person_id": person_id,
            "contact_id": contact_id,
        }
        insert = pg_insert if _dialect(self.session) == "postgresql" else sqlite_insert
        statement = insert(Identity).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=["workspace_id", "distinct_id"],
            set_={"person_id": person_id, "contact_id": contact_id, "updated_at": func.now()},
        )
        await self.execute(statement)


class ContactMatch(WorkspaceRepository[Contact]):
    """Contacts an identify call may name: by id, phone or email."""

    model = Contact

    async def matching(
        self, *, contact_id: uuid.UUID | None, phone: str | None, email: str | None
    ) -> Contact | None:
        conditions = []
        if contact_id is not None:
            conditions.append(Contact.id == contact_id)
        if phone:
            conditions.append(Contact.phone == phone)
        if email:
            conditions.append(func.lower(Contact.email) == email.lower())
        if not conditions:
            return None
        return await self.first(self.scoped().where(or_(*conditions)).order_by(Contact.created_at))


class CopySource(Repository[Event]):
    """Rows to copy into the store, in (received_at, id) order after a cursor, across
    workspaces: the copy is the platform's, not a tenant's."""

    model = Event

    async def product_events(self, after: Cursor, limit: int) -> Sequence[Event]:
        return await self.all(
            select(Event)
            .where(_after(Event.received_at, Event.id, after))
            .order_by(Event.received_at, Event.id)
            .limit(limit)
        )

    async def collected_events(self, after: Cursor, limit: int) -> Sequence[CollectedEvent]:
        result = await self.execute(
            select(CollectedEvent)
            .where(_after(CollectedEvent.received_at, CollectedEvent.id, after))
            .order_by(CollectedEvent.received_at, CollectedEvent.id)
            .limit(limit)
        )
        return result.scalars().all()


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind else "sqlite"


def _after(received: Any, id_column: Any, cursor: Cursor) -> ColumnElement[bool]:
    at, last_id = cursor
    if last_id is None:
        return received >= at  # type: ignore[no-any-return]
    # A row comparison, not `received > at OR (received = at AND id > last)`: PostgreSQL starts
    # an index scan at the cursor for this form, while the OR form scanned the index from its
    # oldest entry (126-950 ms a batch at 1 M events, 0.3 ms now; benchmarks/db_advisor.py).
    return tuple_(received, id_column) > tuple_(at, last_id)  # type: ignore[no-any-return]
