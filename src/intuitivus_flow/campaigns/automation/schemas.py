"""Request and response bodies of the automation: steps, conversions, activity, queue status.

A branch names the steps it continues at by their ids, which never change; positions are only
the order. Whole-list bodies (`StepsReplace`) carry each step's id too, so a branch can name a
step of the same body.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    model_validator,
)

from intuitivus_flow.campaigns.automation.models import DeliveryStatus, StepKind
from intuitivus_flow.campaigns.schemas import LanguageCode, MinorUnits, ShortText, Strict

MAX_WAIT_SECONDS = 90 * 24 * 3600
MAX_STEPS = 50
TARGETS = ("if_true", "if_false")
Version = Annotated[
    int | None,
    Field(
        default=None,
        ge=0,
        description="The campaign's `steps_version` the edit was made from; 409 when the "
        "steps changed since (null: no check).",
    ),
]


class SendTemplateStep(Strict):
    kind: Literal[StepKind.send_template]
    template: ShortText = Field(description="Approved WhatsApp template name.")
    language: LanguageCode = "en"
    parameters: list[Annotated[str, StringConstraints(max_length=1000)]] = Field(
        default_factory=list, max_length=20
    )


class SendMessageStep(Strict):
    kind: Literal[StepKind.send_message]
    text: str = Field(min_length=1, max_length=4096, description="Sent by the assigned agent.")


class WaitStep(Strict):
    kind: Literal[StepKind.wait]
    seconds: int = Field(ge=1, le=MAX_WAIT_SECONDS)


class BranchStep(Strict):
    kind: Literal[StepKind.branch]
    on: Literal["reply", "conversion"]
    if_true: uuid.UUID | None = Field(
        default=None, description="Id of a later step to continue at when true (null: stop)."
    )
    if_false: uuid.UUID | None = Field(
        default=None, description="Id of a later step to continue at when false (null: stop)."
    )


StepSpec = Annotated[
    SendTemplateStep | SendMessageStep | WaitStep | BranchStep, Field(discriminator="kind")
]
StepSpecs: TypeAdapter[list[StepSpec]] = TypeAdapter(list[StepSpec])


def targets_of(spec: StepSpec) -> dict[str, uuid.UUID | None]:
    """A branch's targets by field name; other steps have none."""
    if isinstance(spec, BranchStep):
        return {"if_true": spec.if_true, "if_false": spec.if_false}
    return {}


class StepEntry(Strict):
    """One step of a whole list: its id (a step of the campaign keeps its identity; any other
    id only labels the step for the branches of the same body) and its settings."""

    id: uuid.UUID | None = None
    step: StepSpec

    @model_validator(mode="before")
    @classmethod
    def _flat(cls, data: object) -> object:
        # The shape before ids existed, `{"kind": ..., ...}`, still reads as a step.
        if isinstance(data, dict) and "step" not in data and "kind" in data:
            settings = {name: value for name, value in data.items() if name != "id"}
            return {"id": data.get("id"), "step": settings}
        return data


class StepsReplace(Strict):
    steps: list[StepEntry] = Field(max_length=MAX_STEPS)
    version: Version


class StepCreate(Strict):
    step: StepSpec
    position: int | None = Field(
        default=None, ge=1, description="Where it goes (later steps move down); null: the end."
    )
    version: Version


class StepUpdate(Strict):
    step: StepSpec = Field(description="The step's new settings; its kind stays.")
    version: Version


class StepMove(Strict):
    position: int = Field(ge=1, description="The step's new position (1 = first).")
    version: Version


class StepRead(BaseModel):
    id: uuid.UUID
    position: int
    kind: StepKind
    config: dict[str, object] = Field(
        description="The step's settings; a branch's `if_true`/`if_false` are step ids."
    )
    deliveries: int


class ConversionCreate(Strict):
    contact_id: uuid.UUID
    value_minor: MinorUnits = Field(default=0, description="In minor units of the currency.")


class ConversionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    campaign_id: uuid.UUID
    contact_id: uuid.UUID
    value_minor: int
    created_at: datetime


class ContactRef(BaseModel):
    """Who a delivery or conversion was for; `name` is empty for a deleted contact."""

    id: uuid.UUID
    name: str
    phone: str | None = None


class DeliveryActivity(BaseModel):
    step_id: uuid.UUID
    step_position: int
    step_kind: StepKind
    contact: ContactRef
    status: DeliveryStatus | Literal["pending"]
    detail: dict[str, object]
    created_at: datetime


class ConversionActivity(BaseModel):
    contact: ContactRef
    value_minor: int
    created_at: datetime


class AutomationActivity(BaseModel):
    """The newest step deliveries and conversions of a campaign."""

    deliveries: list[DeliveryActivity]
    conversions: list[ConversionActivity]


class AutomationRun(BaseModel):
    campaign_id: uuid.UUID
    job_id: uuid.UUID


class QueueStatus(BaseModel):
    queue: str
    depth: int
    lag_seconds: float
    running: int
    failed: int
