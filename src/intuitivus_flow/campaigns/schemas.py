from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from intuitivus_flow.campaigns import creatives
from intuitivus_flow.campaigns.models import (
    CampaignStatus,
    PauseReason,
    Platform,
)
from intuitivus_flow.kit.pagination import PaginatedResponse

Day = date  # an alias: inside classes with a `date` field, the name means the field
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
LanguageCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(_[A-Z]{2})?$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
MinorUnits = Annotated[int, Field(ge=0, le=10**15)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- targeting and creatives -------------------------------------------------------------------


class Targeting(Strict):
    """Who the ads reach; every field is optional and an empty object means "everyone"."""

    countries: list[CountryCode] = Field(default_factory=list, max_length=250)
    languages: list[LanguageCode] = Field(default_factory=list, max_length=50)
    age_min: int | None = Field(default=None, ge=13, le=100)
    age_max: int | None = Field(default=None, ge=13, le=100)
    genders: list[Literal["female", "male", "other"]] = Field(default_factory=list, max_length=3)
    interests: list[ShortText] = Field(default_factory=list, max_length=100)
    keywords: list[ShortText] = Field(default_factory=list, max_length=500)

    @model_validator(mode="after")
    def _age_range(self) -> Targeting:
        if self.age_min is not None and self.age_max is not None and self.age_min > self.age_max:
            raise ValueError("age_min must not exceed age_max")
        return self


CreativeFormat = Literal["image", "video", "text", "carousel", "whatsapp_template", "email"]
TemplateVariable = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1024)
]


class Creative(Strict):
    """A creative as stored and read back."""

    name: ShortText
    format: CreativeFormat
    headline: str | None = Field(default=None, max_length=150)
    body: str | None = Field(
        default=None,
        max_length=5000,
        description="For a WhatsApp template, its body with {{1}}, {{2}}... for the variables.",
    )
    media_url: AnyHttpUrl | None = None
    landing_url: AnyHttpUrl | None = None
    call_to_action: str | None = Field(default=None, max_length=40)
    template_name: str | None = Field(
        default=None, max_length=512, description="WhatsApp template creatives: its name."
    )
    template_language: LanguageCode | None = None
    template_variables: list[TemplateVariable] = Field(
        default_factory=list, max_length=creatives.MAX_TEMPLATE_VARIABLES
    )


class CreativeInput(Creative):
    """A creative as the API and the pages take it. Its rules live here, not on `Creative`,
    so that a rule added later never makes a stored creative unreadable."""

    @field_validator("media_url", "landing_url")
    @classmethod
    def _public(cls, value: AnyHttpUrl | None) -> AnyHttpUrl | None:
        if value is not None:
            creatives.check_public_url(str(value))
        return value

    @field_validator("template_name")
    @classmethod
    def _template_name(cls, value: str | None) -> str | None:
        return None if value is None else creatives.check_template_name(value)

    @model_validator(mode="after")
    def _template_fields(self) -> CreativeInput:
        if self.format != "whatsapp_template":
            given = self.template_name or self.template_language or self.template_variables
            if given:
                raise ValueError("template fields are only for whatsapp_template creatives")
            return self
        if not self.template_name:
            raise ValueError("a whatsapp_template creative needs its template_name")
        missing = creatives.missing_variables(self.body, self.template_variables)
        if missing:
            needed = len(self.template_variables) + missing
            raise ValueError(f"the body uses {{{{{needed}}}}}: give {needed} template_variables")
        return self


# --- campaigns ---------------------------------------------------------------------------------


class CampaignFields(Strict):
    total_budget_minor: MinorUnits | None = Field(
        default=None, description="Lifetime budget in minor units (cents) of `currency`."
    )
    daily_budget_minor: MinorUnits | None = Field(default=None)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    targeting: Targeting = Field(default_factory=Targeting)
    creatives: list[CreativeInput] = Field(default_factory=list, max_length=50)
    audience_tags: list[Tag] = Field(
        default_factory=list,
        max_length=20,
        description="The automation's audience: contacts carrying every one of these tags.",
    )
    agent_id: uuid.UUID | None = Field(default=None, description="An agent of this workspace.")

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must include a UTC offset")
        return value


class CampaignCreate(CampaignFields):
    name: ShortText
    platform: Platform
    currency: Currency = "USD"


class CampaignUpdate(Strict):
    name: ShortText | None = None
    platform: Platform | None = None
    currency: Currency | None = None
    total_budget_minor: MinorUnits | None = None
    daily_budget_minor: MinorUnits | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    targeting: Targeting | None = None
    creatives: list[CreativeInput] | None = Field(default=None, max_length=50)
    audience_tags: list[Tag] | None = Field(default=None, max_length=20)
    agent_id: uuid.UUID | None = None

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must include a UTC offset")
        return value


class CampaignStatusChange(Strict):
    status: CampaignStatus
    reason: str | None = Field(default=None, max_length=500)


class Metrics(BaseModel):
    """Totals with the derived ratios; a ratio whose denominator is zero is null."""

    impressions: int
    clicks: int
    conversions: int
    spend_minor: int
    revenue_minor: int
    ctr: float | None = Field(description="clicks / impressions")
    cpc_minor: float | None = Field(description="spend / clicks, in minor units")
    cpa_minor: float | None = Field(description="spend / conversions, in minor units")
    roas: float | None = Field(description="revenue / spend")


class CampaignRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    platform: Platform
    status: CampaignStatus
    currency: str
    total_budget_minor: int | None
    daily_budget_minor: int | None
    starts_at: datetime | None
    ends_at: datetime | None
    targeting: Targeting
    creatives: list[Creative]
    audience_tags: list[str]
    agent_id: uuid.UUID | None
    automation_started_at: datetime | None
    pause_reason: PauseReason | None = Field(
        description="Set while the system holds the campaign paused at a budget."
    )
    resume_at: datetime | None = Field(
        description="When a daily-budget pause ends (the start of the next UTC day)."
    )
    steps_version: int = Field(
        description="Changes with every edit of the automation's steps; send it back with a "
        "step edit to have the edit refused (409) when the steps changed in between."
    )
    created_at: datetime
    updated_at: datetime


class CampaignSummary(CampaignRead):
    metrics: Metrics


class CampaignPage(PaginatedResponse[CampaignSummary]):
    pass


class CampaignEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    from_status: str | None
    to_status: str | None
    reason: str | None
    user_id: uuid.UUID | None
    created_at: datetime


class CampaignEventPage(PaginatedResponse[CampaignEventRead]):
    pass


# --- performance -------------------------------------------------------------------------------


class ReportRow(Strict):
    """One day of figures; money in minor units of the campaign's currency."""

    date: date
    impressions: int = Field(ge=0, le=10**15)
    clicks: int = Field(ge=0, le=10**15)
    conversions: int = Field(ge=0, le=10**15)
    spend_minor: MinorUnits
    revenue_minor: MinorUnits = 0

    @field_validator("date")
    @classmethod
    def _not_in_the_future(cls, value: Day) -> Day:
        # One day of slack: the platform's day may already have begun where the account is.
        if value > datetime.now(UTC).date() + timedelta(days=1):
            raise ValueError("must not be in the future")
        return value


class ReportUpload(Strict):
    rows: list[ReportRow] = Field(min_length=1, max_length=5000)


class ReportIngested(BaseModel):
    rows: int
    campaign: CampaignSummary


class DailyMetrics(Metrics):
    date: date


class Performance(BaseModel):
    campaign_id: uuid.UUID
    currency: str
    total: Metrics
    budget_used_ratio: float | None = Field(description="spend / total budget (null: no budget)")
    days: list[DailyMetrics]


class ReportProblem(BaseModel):
    line: int
    field: str
    message: str
