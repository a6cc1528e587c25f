from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from intuitivus_flow.campaigns.automation.models import (
    CampaignConversion,
    CampaignStep,
    CampaignStepDelivery,
    DeliveryStatus,
    StepKind,
)
from intuitivus_flow.kit.models import Base, IdMixin, JSONType, TimestampMixin, str_enum, utcnow

# The automation's tables live in `automation/models.py`; named here too so that importing the
# campaigns' models registers every campaign table (Alembic, tests) and old imports keep working.
__all__ = [
    "Campaign",
    "CampaignConversion",
    "CampaignEvent",
    "CampaignReport",
    "CampaignStatus",
    "CampaignStep",
    "CampaignStepDelivery",
    "DeliveryStatus",
    "PauseReason",
    "Platform",
    "StepKind",
]


class Platform(StrEnum):
    google_ads = "google_ads"
    meta_ads = "meta_ads"
    tiktok_ads = "tiktok_ads"
    linkedin_ads = "linkedin_ads"
    whatsapp = "whatsapp"
    email = "email"

    @property
    def label(self) -> str:
        """The name people know the platform by, for pages and messages."""
        return _PLATFORM_LABELS[self]


_PLATFORM_LABELS = {
    Platform.google_ads: "Google Ads",
    Platform.meta_ads: "Meta Ads",
    Platform.tiktok_ads: "TikTok Ads",
    Platform.linkedin_ads: "LinkedIn Ads",
    Platform.whatsapp: "WhatsApp",
    Platform.email: "E-mail",
}


class CampaignStatus(StrEnum):
    draft = "draft"
    scheduled = "scheduled"
    active = "active"
    paused = "paused"
    completed = "completed"
    cancelled = "cancelled"


class PauseReason(StrEnum):
    """Why the system paused a campaign (a person's pause has no reason here)."""

    budget_reached = "budget_reached"  # the total budget: stays paused until a person acts
    daily_budget = "daily_budget"  # today's budget: resumes by itself when the UTC day ends


class Campaign(IdMixin, TimestampMixin, Base):
    """A campaign on one platform, with budgets in integer minor units of its currency."""

    __tablename__ = "campaigns"
    __table_args__ = (
        Index("ix_campaigns_workspace_id_status", "workspace_id", "status"),
        # The resume job looks across workspaces for campaigns whose pause has run out.
        Index("ix_campaigns_resume_at", "resume_at"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(160))
    platform: Mapped[Platform] = mapped_column(str_enum(Platform, length=20))
    status: Mapped[CampaignStatus] = mapped_column(
        str_enum(CampaignStatus), default=CampaignStatus.draft
    )
    currency: Mapped[str] = mapped_column(String(3))
    # BigInteger: minor units of a large budget in a weak currency overflow 32 bits quickly.
    total_budget_minor: Mapped[int | None] = mapped_column(BigInteger, default=None)
    daily_budget_minor: Mapped[int | None] = mapped_column(BigInteger, default=None)
    starts_at: Mapped[datetime | None] = mapped_column(default=None)
    ends_at: Mapped[datetime | None] = mapped_column(default=None)
    targeting: Mapped[dict[str, Any]] = mapped_column(default=dict)
    creatives: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    # Contacts carrying every one of these tags are the automation's audience.
    audience_tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL"), default=None
    )
    automation_started_at: Mapped[datetime | None] = mapped_column(default=None)
    # Set only while the system holds the campaign paused (`PauseReason`); any status change
    # clears both. A daily-budget pause ends at `resume_at`, the start of the next UTC day.
    pause_reason: Mapped[PauseReason | None] = mapped_column(
        str_enum(PauseReason, length=20), default=None
    )
    resume_at: Mapped[datetime | None] = mapped_column(default=None)
    # Bumped by every change of the automation's steps: an edit made from a list that is out
    # of date (it names the version it saw) is refused instead of applied to another order.
    steps_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CampaignReport(IdMixin, TimestampMixin, Base):
    """One day of a campaign's figures as the ad platform reported them."""

    __tablename__ = "campaign_reports"
    __table_args__ = (
        # A day is reported once; a newer report for the same day replaces it.
        UniqueConstraint("campaign_id", "report_date"),
        Index("ix_campaign_reports_workspace_id_campaign_id", "workspace_id", "campaign_id"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    report_date: Mapped[date] = mapped_column(Date)
    impressions: Mapped[int] = mapped_column(BigInteger, default=0)
    clicks: Mapped[int] = mapped_column(BigInteger, default=0)
    conversions: Mapped[int] = mapped_column(BigInteger, default=0)
    spend_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    revenue_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    source: Mapped[str] = mapped_column(String(40), default="api")


class CampaignEvent(IdMixin, TimestampMixin, Base):
    """The campaign's own timeline (status changes with their reason, automation runs)."""

    __tablename__ = "campaign_events"
    __table_args__ = (
        Index("ix_campaign_events_campaign_id_created_at", "campaign_id", "created_at"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[CampaignStatus | None] = mapped_column(
        str_enum(CampaignStatus), default=None
    )
    to_status: Mapped[CampaignStatus | None] = mapped_column(str_enum(CampaignStatus), default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    # None: the system acted (budget reached, the automation engine).
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
