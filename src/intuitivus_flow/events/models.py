from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from intuitivus_flow.kit.models import Base, IdMixin, utcnow


class Event(IdMixin, Base):
    """A product event: what someone did, when, in which workspace. Read by KPI/journey analysis."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_workspace_id_occurred_at", "workspace_id", "occurred_at"),
        # The event list by name, newest first, without sorting (issue 18's advisor).
        Index("ix_events_workspace_id_name_occurred_at", "workspace_id", "name", "occurred_at"),
        # The analytics copy reads events after a (received_at, id) cursor, in that order.
        Index("ix_events_received_at_id", "received_at", "id"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
    name: Mapped[str] = mapped_column(String(80))
    source: Mapped[str] = mapped_column(String(16), default="server")
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
