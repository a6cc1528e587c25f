from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, delete, select

from intuitivus_flow.events.models import Event
from intuitivus_flow.kit.repository import Repository, WorkspaceRepository


class EventRepository(WorkspaceRepository[Event]):
    model = Event

    def recent(self, *, name: str | None = None, since: datetime | None = None) -> Select[Event]:
        statement = self.scoped().order_by(Event.occurred_at.desc(), Event.id)
        if name is not None:
            statement = statement.where(Event.name == name)
        if since is not None:
            statement = statement.where(Event.occurred_at >= since)
        return statement


class EventRetention(Repository[Event]):
    """Events past the instance's retention, across workspaces: the prune is the platform's."""

    model = Event

    async def delete_received_before(self, cutoff: datetime, *, limit: int) -> int:
        # One batch through ix_events_received_at_id: the oldest `limit` rows, deleted by id.
        batch = select(Event.id).where(Event.received_at < cutoff).limit(limit)
        result = await self.session.execute(
            delete(Event)
            .where(Event.id.in_(batch.scalar_subquery()))
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0))
