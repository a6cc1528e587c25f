from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from intuitivus_flow.kit.models import Base, IdMixin, TimestampMixin, str_enum


class StepKind(StrEnum):
    send_template = "send_template"
    send_message = "send_message"
    wait = "wait"
    branch = "branch"


class CampaignStep(IdMixin, TimestampMixin, Base):
    """One step of a campaign's automation, in order of `position` (1, 2, ...).

    The id is the step's identity for good: jobs, deliveries and branches name it, so edits
    change a row in place and moving a step only renumbers positions."""

    __tablename__ = "campaign_steps"
    __table_args__ = (UniqueConstraint("campaign_id", "position"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[StepKind] = mapped_column(str_enum(StepKind, length=20))
    # Everything but a branch's targets. Those are columns, so the database itself refuses a
    # branch pointing nowhere; checked at commit, because a list or an import writes a branch
    # and the later step it names in either order.
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    if_true_step_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("campaign_steps.id", deferrable=True, initially="DEFERRED"), default=None
    )
    if_false_step_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("campaign_steps.id", deferrable=True, initially="DEFERRED"), default=None
    )


class DeliveryStatus(StrEnum):
    pending = "pending"  # claimed by a step job that has not finished it yet
    sent = "sent"
    waited = "waited"
    branched = "branched"
    skipped = "skipped"  # the contact cannot get messages; their journey ends here


class CampaignStepDelivery(IdMixin, TimestampMixin, Base):
    """A step done for one contact. The unique pair is what makes "never twice" hold: the row
    commits with the job's completion, and a second run for the pair cannot insert it again."""

    __tablename__ = "campaign_step_deliveries"
    __table_args__ = (
        UniqueConstraint("step_id", "contact_id"),
        Index("ix_campaign_step_deliveries_campaign_id", "campaign_id"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    step_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaign_steps.id", ondelete="CASCADE"))
    # No foreign key: the contacts table lives in another migration branch (contacts/), which
    # this revision cannot depend on. A deleted contact leaves its history here; the engine
    # treats a contact the segment no longer returns as gone.
    contact_id: Mapped[uuid.UUID] = mapped_column()
    status: Mapped[DeliveryStatus] = mapped_column(str_enum(DeliveryStatus))
    # What the channel answered (message id) or what a branch decided.
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class CampaignConversion(IdMixin, TimestampMixin, Base):
    """A contact converted thanks to the campaign (reported by the shop, CRM or a person);
    branches on "conversion" read this."""

    __tablename__ = "campaign_conversions"
    __table_args__ = (UniqueConstraint("campaign_id", "contact_id"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    # No foreign key, for the same reason as in deliveries (contacts is another branch).
    contact_id: Mapped[uuid.UUID] = mapped_column()
    value_minor: Mapped[int] = mapped_column(BigInteger, default=0)
