"""Request and response bodies of the event analyses and the collection API (issue 15)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from intuitivus_flow.kit import origins

MAX_FUNNEL_STEPS = 20
MAX_WRITE_KEY_ORIGINS = 20
DEFAULT_WINDOW_SECONDS = 14 * 24 * 3600
MAX_WINDOW_SECONDS = 366 * 24 * 3600

EventName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")]
PropertyValue = str | int | float | bool


class FunnelOrder(StrEnum):
    sequential = "sequential"  # other events may come between steps
    strict = "strict"  # the next event after a step must be the next step
    any = "any"  # steps in any order


class Period(StrEnum):
    day = "day"
    week = "week"
    month = "month"


class StepFilter(BaseModel):
    """An event name plus equality filters on its properties."""

    model_config = ConfigDict(extra="forbid")

    event: EventName
    properties: dict[Annotated[str, Field(min_length=1, max_length=100)], PropertyValue] = Field(
        default_factory=dict, max_length=10
    )
    name: str | None = Field(default=None, max_length=100, description="Label shown for it.")

    @property
    def label(self) -> str:
        return self.name or self.event


class Exclusion(StepFilter):
    """Persons doing this event between `from_step` and `to_step` (1-based) of a conversion
    attempt are left out of it."""

    from_step: int = Field(default=1, ge=1, le=MAX_FUNNEL_STEPS)
    to_step: int = Field(default=2, ge=2, le=MAX_FUNNEL_STEPS)

    @model_validator(mode="after")
    def _ordered(self) -> Exclusion:
        if self.to_step <= self.from_step:
            raise ValueError("to_step must come after from_step")
        return self


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return value
    if value.tzinfo is None:
        raise ValueError("must include a UTC offset (e.g. 2026-01-31T00:00:00Z)")
    # both engines' time types cover this range (ClickHouse's DateTime64 starts in 1900)
    if not 1970 <= value.astimezone(UTC).year <= 2200:
        raise ValueError("must be between 1970 and 2200")
    return value


class DateRange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date_from: datetime | None = Field(default=None, description="Inclusive; with an offset.")
    date_to: datetime | None = Field(default=None, description="Inclusive; with an offset.")

    _aware_from = field_validator("date_from")(_aware)
    _aware_to = field_validator("date_to")(_aware)

    @model_validator(mode="after")
    def _ordered_range(self) -> DateRange:
        if self.date_from and self.date_to and self.date_to < self.date_from:
            raise ValueError("date_to must not be before date_from")
        return self


class FunnelQuery(DateRange):
    """A funnel: unit = unique persons, window measured from each person's step 1."""

    steps: list[StepFilter] = Field(min_length=1)
    window_seconds: int = Field(default=DEFAULT_WINDOW_SECONDS, ge=1, le=MAX_WINDOW_SECONDS)
    order: FunnelOrder = FunnelOrder.sequential
    breakdown: str | None = Field(
        default=None,
        max_length=100,
        description="Property of the step-1 event to split by (first-touch attribution).",
    )
    exclusions: list[Exclusion] = Field(default_factory=list, max_length=10)

    @model_validator(mode="after")
    def _step_count(self) -> FunnelQuery:
        if not 2 <= len(self.steps) <= MAX_FUNNEL_STEPS:
            raise ValueError(f"a funnel needs 2 to {MAX_FUNNEL_STEPS} steps, got {len(self.steps)}")
        for exclusion in self.exclusions:
            if exclusion.to_step > len(self.steps):
                raise ValueError(f"exclusion to_step {exclusion.to_step} is past the last step")
        return self


class FunnelStepResult(BaseModel):
    index: int = Field(description="1-based.")
    event: str
    label: str
    count: int = Field(description="Persons who reached this step.")
    conversion_from_first: float = Field(description="count / persons at step 1 (0..1).")
    conversion_from_previous: float
    dropped: int = Field(description="Persons of the previous step who did not reach this one.")
    median_seconds_to_convert: float | None = Field(
        description="From the previous step; null for step 1 or nobody converted."
    )
    mean_seconds_to_convert: float | None


class FunnelBreakdown(BaseModel):
    value: str | None
    steps: list[FunnelStepResult]


class FunnelResult(BaseModel):
    order: FunnelOrder
    window_seconds: int
    steps: list[FunnelStepResult]
    breakdown: list[FunnelBreakdown] | None = None


class PathQuery(DateRange):
    model_config = ConfigDict(extra="forbid")

    start_event: EventName | None = Field(default=None, description="Transitions after it.")
    end_event: EventName | None = Field(default=None, description="Transitions leading to it.")
    session_gap_seconds: int = Field(default=1800, ge=60, le=7 * 24 * 3600)
    steps: int = Field(default=5, ge=1, le=20, description="Transitions followed from the start.")
    limit: int = Field(default=50, ge=1, le=1000)
    dropped_at_step: int | None = Field(
        default=None,
        ge=1,
        le=MAX_FUNNEL_STEPS,
        description="Only persons whose furthest step in `funnel` was this one.",
    )
    funnel: FunnelQuery | None = None

    @model_validator(mode="after")
    def _drop_off_needs_funnel(self) -> PathQuery:
        if self.dropped_at_step is not None and self.funnel is None:
            raise ValueError("dropped_at_step needs a funnel")
        if self.funnel and self.dropped_at_step and self.dropped_at_step > len(self.funnel.steps):
            raise ValueError("dropped_at_step is past the funnel's last step")
        return self


class Transition(BaseModel):
    step: int = Field(description="1 for the first transition after the start (or before the end).")
    source: str
    target: str
    persons: int
    sessions: int


class PathSequence(BaseModel):
    events: list[str]
    sessions: int


class PathResult(BaseModel):
    transitions: list[Transition]
    top_paths: list[PathSequence]


class RetentionKind(StrEnum):
    first_time = "first_time"  # cohort: the period of a person's first start event ever
    recurring = "recurring"  # cohort: every period with a start event


class RetentionQuery(DateRange):
    start_event: EventName
    return_event: EventName | None = Field(default=None, description="Default: start_event.")
    period: Period = Period.week
    periods: int = Field(default=8, ge=1, le=60)
    kind: RetentionKind = RetentionKind.first_time


class RetentionCohort(BaseModel):
    cohort: str = Field(description="First day of the cohort's period (ISO date).")
    size: int
    retained: list[int] = Field(description="Persons active in period 0, 1, ...")
    rates: list[float]


class RetentionResult(BaseModel):
    period: Period
    kind: RetentionKind
    cohorts: list[RetentionCohort]


class LifecyclePeriod(BaseModel):
    period: str
    new: int
    returning: int
    resurrecting: int
    dormant: int = Field(description="Active last period, not in this one (a negative bar).")


class LifecycleResult(BaseModel):
    event: str
    period: Period
    periods: list[LifecyclePeriod]


class StickinessResult(BaseModel):
    event: str
    period: Period
    days_per_period: int
    persons_by_active_days: list[int] = Field(description="Index i: persons active on i+1 days.")


class ActivityQuery(DateRange):
    """Lifecycle and stickiness of one event."""

    event: EventName
    period: Period = Period.week


class Evidence(BaseModel):
    metric: str
    value: float
    baseline: float | None = None


class Recommendation(BaseModel):
    rule: str = Field(description="Which rule fired (docs/analytics.md lists them).")
    step: int = Field(description="1-based funnel step it is about.")
    title: str
    action: str
    impact_persons: int = Field(description="Persons the rule estimates are lost there.")
    evidence: list[Evidence]


class BottleneckQuery(FunnelQuery):
    """A funnel over `date_from`..`date_to`, compared with the period of the same length
    before it (its own history)."""


class BottleneckReport(BaseModel):
    current: FunnelResult
    previous: FunnelResult | None
    recommendations: list[Recommendation]


class JourneyEvent(BaseModel):
    event: str
    timestamp: datetime
    session: int


class UserJourney(BaseModel):
    person_id: str
    events: list[JourneyEvent]
    sessions: int
    furthest_step: int = Field(description="Steps of the funnel this person completed (0..n).")
    funnel_steps: list[str]
    stuck_at: str | None = Field(description="The next step they have not done, if any.")
    recommendations: list[Recommendation]


# --- collection API (Segment's HTTP tracking API spec) ---


class SegmentMessage(BaseModel):
    """One Segment call. Unknown Segment fields (context, integrations, ...) are accepted and
    ignored, as Segment's own API does."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    type: str | None = Field(default=None, max_length=16, description="track, identify, page")
    userId: str | int | None = Field(default=None)  # noqa: N815 - Segment's wire names
    anonymousId: str | int | None = Field(default=None)  # noqa: N815
    event: str | None = Field(default=None)
    name: str | None = Field(default=None, description="Page name (page calls).")
    timestamp: str | None = Field(default=None, description="ISO 8601 with offset.")
    messageId: str | None = Field(default=None)  # noqa: N815
    properties: dict[str, object] | None = None
    traits: dict[str, object] | None = None


class SegmentBatch(BaseModel):
    model_config = ConfigDict(extra="allow")

    batch: list[SegmentMessage] = Field(min_length=1)


class CollectAccepted(BaseModel):
    success: bool = True
    accepted: int
    duplicates: int


class WriteKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    allowed_origins: list[Annotated[str, Field(max_length=origins.MAX_ORIGIN_LENGTH)]] = Field(
        default_factory=list,
        max_length=MAX_WRITE_KEY_ORIGINS,
        description="Browser origins whose pages may send with this key (CORS): each "
        "scheme://host[:port], no path; `https://*.example.com` stands for every subdomain of "
        "example.com. Normalised as browsers send `Origin`. Empty: server-side calls only "
        "(a request carrying an `Origin` header is refused).",
    )

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        # The same rules as the web-chat widget's list (kit/origins.py), so both match alike.
        return origins.normalise_origins(value)


class WriteKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str
    allowed_origins: list[str]
    created_at: datetime
    last_used_at: datetime | None = Field(description="To the minute; None: never used.")
    revoked_at: datetime | None


class WriteKeyCreated(WriteKeyRead):
    key: str = Field(description="Shown once: send it as the HTTP Basic user name.")


class WriteKeyList(BaseModel):
    items: list[WriteKeyRead]
