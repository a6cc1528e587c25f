from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from intuitivus_flow.kit.pagination import PaginatedResponse


class ClientEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=3, max_length=80, examples=["ui.page_viewed"])
    occurred_at: datetime | None = Field(
        default=None, description="When it happened on the client (ISO 8601, with offset)."
    )
    properties: dict[str, Any] = Field(default_factory=dict)


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[ClientEvent] = Field(min_length=1)


class BatchAccepted(BaseModel):
    accepted: int


class EventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    source: str
    user_id: uuid.UUID | None
    occurred_at: datetime
    properties: dict[str, Any]


class EventPage(PaginatedResponse[EventRead]):
    pass
