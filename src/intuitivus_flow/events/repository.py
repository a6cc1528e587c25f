from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select

from intuitivus_flow.events.models import Event
from intuitivus_flow.kit.repository import WorkspaceRepository


class EventRepository(WorkspaceRepository[Event]):
    model = Event

    def recent(self, *, name: str | None = None, since: datetime | None = None) -> Select[Event]:
        statement = self.scoped().order_by(Event.occurred_at.desc(), Event.id)
        if name is not None:
            statement = statement.where(Event.name == name)
        if since is not None:
            statement = statement.where(Event.occurred_at >= since)
        return statement
