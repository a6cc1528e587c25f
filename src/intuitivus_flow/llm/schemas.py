from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

from intuitivus_flow.llm.providers import ProviderKind


class ProviderKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: ProviderKind
    label: str = Field(min_length=1, max_length=120)
    api_key: str = Field(
        default="", max_length=500, description="Stored encrypted; never returned."
    )
    base_url: HttpUrl | None = Field(default=None, description="Required for openai_compatible.")
    default_model: str = Field(min_length=1, max_length=120, examples=["gpt-4o-mini"])
    priority: int = Field(default=100, ge=0, le=10_000, description="Lower is tried first.")
    monthly_token_limit: int | None = Field(default=None, ge=0)
    monthly_cost_limit_micros: int | None = Field(
        default=None, ge=0, description="Micro-USD (1e-6 USD)."
    )

    @model_validator(mode="after")
    def _provider_needs(self) -> ProviderKeyCreate:
        if self.provider is ProviderKind.offline:
            raise ValueError("the offline provider needs no key; it is used when none is set")
        if self.provider is ProviderKind.openai_compatible and self.base_url is None:
            raise ValueError("base_url is required for an OpenAI-compatible provider")
        if self.provider is not ProviderKind.openai_compatible and not self.api_key:
            raise ValueError("api_key is required for this provider")
        return self


class ProviderKeyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(default=None, min_length=1, max_length=120)
    api_key: str | None = Field(default=None, min_length=1, max_length=500)
    default_model: str | None = Field(default=None, min_length=1, max_length=120)
    priority: int | None = Field(default=None, ge=0, le=10_000)
    monthly_token_limit: int | None = Field(default=None, ge=0)
    monthly_cost_limit_micros: int | None = Field(default=None, ge=0)
    active: bool | None = None


class ProviderKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    provider: ProviderKind
    label: str
    base_url: str | None
    default_model: str
    key_hint: str = Field(
        description="The last characters of the key; the key itself is never returned."
    )
    priority: int
    monthly_token_limit: int | None
    monthly_cost_limit_micros: int | None
    active: bool
    created_at: datetime


class ChatTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str = Field(pattern="^(user|assistant)$")
    content: str = Field(min_length=1, max_length=32_000)


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: list[ChatTurn] = Field(min_length=1, max_length=100)
    system: str = Field(default="", max_length=32_000)
    model: str | None = Field(
        default=None, max_length=120, description="Default: each key's default model."
    )
    temperature: float = Field(default=0.7, ge=0, le=2)
    max_tokens: int = Field(default=512, ge=1, le=32_000)


class AttemptRead(BaseModel):
    provider: str
    outcome: str


class CompletionRead(BaseModel):
    text: str
    provider: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_micros: int
    latency_ms: float
    attempts: list[AttemptRead]


class UsageRow(BaseModel):
    provider: str
    outcome: str
    calls: int
    tokens: int
    cost_micros: int


class UsageSummary(BaseModel):
    since: datetime
    rows: list[UsageRow]
