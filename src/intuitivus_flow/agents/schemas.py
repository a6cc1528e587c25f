from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from intuitivus_flow.agents.models import AgentStatus, CrewMode
from intuitivus_flow.kit.pagination import PaginatedResponse
from intuitivus_flow.llm.providers import ProviderKind


class AgentFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str = Field(default="", max_length=200, examples=["Sales assistant"])
    system_prompt: str = Field(default="", max_length=32_000)
    provider: ProviderKind | None = Field(
        default=None, description="Restrict to this provider; default: any, by key priority."
    )
    model: str | None = Field(default=None, max_length=120)
    temperature: float = Field(default=0.7, ge=0, le=2)
    max_tokens: int = Field(default=1024, ge=1, le=32_000)


class AgentCreate(AgentFields):
    name: str = Field(min_length=1, max_length=120)


class AgentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=120)
    role: str | None = Field(default=None, max_length=200)
    system_prompt: str | None = Field(default=None, max_length=32_000)
    provider: ProviderKind | None = None
    model: str | None = Field(default=None, max_length=120)
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=32_000)


class AgentStatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: AgentStatus


class AgentClone(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(
        default=None, min_length=1, max_length=120, description="Default: '<name> (copy)'."
    )


class AgentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    role: str
    system_prompt: str
    provider: ProviderKind | None
    model: str | None
    temperature: float
    max_tokens: int
    status: AgentStatus
    created_at: datetime
    updated_at: datetime


class AgentPage(PaginatedResponse[AgentRead]):
    pass


class TaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=32_000)


class TaskRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    agent_id: uuid.UUID
    status: str
    prompt: str
    result_text: str | None
    error: str | None
    provider: str | None
    model: str | None
    prompt_tokens: int
    completion_tokens: int
    cost_micros: int
    latency_ms: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class TaskPage(PaginatedResponse[TaskRead]):
    pass


class AgentStatsRow(BaseModel):
    agent_id: uuid.UUID
    tasks: int
    succeeded: int
    success_rate: float
    tokens: int
    cost_micros: int
    mean_latency_ms: float | None


class AgentStats(BaseModel):
    since: datetime
    agents: list[AgentStatsRow]


class CrewStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_ids: list[uuid.UUID] = Field(
        min_length=1,
        max_length=20,
        description="In order (sequential), or the coordinator first (delegation).",
    )
    mode: CrewMode = CrewMode.sequential
    input: str = Field(min_length=1, max_length=32_000)
    max_steps: int = Field(default=8, ge=1, le=50)


class CrewStepRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    position: int
    agent_id: uuid.UUID | None
    input: str
    output: str | None
    handed_to_id: uuid.UUID | None
    provider: str | None
    tokens: int
    cost_micros: int
    latency_ms: int | None
    created_at: datetime


class CrewRunFields(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    mode: CrewMode
    status: str
    agent_ids: list[uuid.UUID] = Field(
        description="The crew as chosen: in order, or the coordinator first."
    )
    input: str
    output: str | None
    error: str | None
    max_steps: int
    created_at: datetime
    finished_at: datetime | None

    @field_validator("agent_ids", mode="before")
    @classmethod
    def _unwrap_order(cls, value: Any) -> Any:
        # The run row stores {"order": [...]}, a JSON object so the column can grow fields.
        return value["order"] if isinstance(value, dict) else value


class CrewRunRead(CrewRunFields):
    steps: list[CrewStepRead] = Field(default_factory=list)


class CrewRunSummary(CrewRunFields):
    step_count: int = Field(description="Steps recorded so far.")
    tokens: int
    cost_micros: int


class CrewRunPage(PaginatedResponse[CrewRunSummary]):
    pass
