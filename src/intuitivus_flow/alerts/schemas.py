"""Bodies of the alerts API: alerts, history, silences, deliveries and SLO budgets."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from intuitivus_flow.kit.pagination import PaginatedResponse

MAX_SILENCE = timedelta(days=90)


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    fingerprint: str
    name: str
    labels: dict[str, Any]
    annotations: dict[str, Any]
    severity: str
    state: str
    value: float | None
    active_at: datetime | None
    fired_at: datetime | None
    resolved_at: datetime | None
    silenced_by: uuid.UUID | None
    inhibited_by: str | None


class TransitionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    fingerprint: str
    name: str
    labels: dict[str, Any]
    from_state: str
    to_state: str
    value: float | None
    at: datetime
    muted: bool


class Matcher(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    op: Literal["=", "!=", "=~", "!~"] = "="
    value: str = Field(max_length=200)

    @model_validator(mode="after")
    def _valid_regex(self) -> Self:
        if self.op in ("=~", "!~"):
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from None
        return self


class SilenceCreate(BaseModel):
    matchers: list[Matcher] = Field(min_length=1, max_length=20)
    starts_at: datetime | None = Field(default=None, description="Default: now.")
    ends_at: datetime | None = Field(default=None, description="Or give `duration_minutes`.")
    duration_minutes: int | None = Field(
        default=None, ge=1, le=int(MAX_SILENCE.total_seconds() // 60)
    )
    comment: str = Field(min_length=1, max_length=500)

    @field_validator("comment")
    @classmethod
    def _stripped(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("say why the alerts are silenced")
        return value.strip()

    @model_validator(mode="after")
    def _one_end(self) -> Self:
        if (self.ends_at is None) == (self.duration_minutes is None):
            raise ValueError("give exactly one of ends_at or duration_minutes")
        return self


class SilenceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    matchers: list[dict[str, str]]
    starts_at: datetime
    ends_at: datetime
    comment: str
    created_by: str
    expired_by: str | None
    created_at: datetime
    active: bool = False


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    group_key: str
    status: str
    channel: str
    target_label: str
    state: str
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str | None
    created_at: datetime


class SloStatus(BaseModel):
    name: str
    slo: str
    kind: str
    objective: float
    window_days: float
    total_requests: float
    bad_requests: float
    allowed_bad_requests: float = Field(description="Bad requests the objective allows so far.")
    min_requests: int = Field(description="Requests needed before the budget is reported.")
    remaining_error_budget: float | None = Field(
        description="1 = untouched, 0 = spent or overspent; null = not enough data yet "
        "(fewer than min_requests in the window)."
    )


class AlertBoardOut(BaseModel):
    firing: list[AlertOut]
    pending: list[AlertOut]


class TransitionPage(PaginatedResponse[TransitionOut]):
    pass


class SilencePage(PaginatedResponse[SilenceOut]):
    pass


class DeliveryPage(PaginatedResponse[DeliveryOut]):
    pass
