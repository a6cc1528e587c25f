from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class TaskSummary(BaseModel):
    total: int
    succeeded: int
    failed: int
    in_progress: int
    success_rate: float | None = Field(description="succeeded / finished; null when none finished")


class ProviderUsage(BaseModel):
    provider: str
    calls: int
    tokens: int
    cost_micros: int


class Activity(BaseModel):
    name: str
    sentence: str = Field(
        description="What happened, in words: 'Campaign Black Friday was paused by Ana'"
    )
    source: str
    occurred_at: datetime
    properties: dict[str, Any]


class PlatformSummary(BaseModel):
    platform: str
    currency: str
    campaigns: int
    spend_minor: int
    revenue_minor: int
    roas: float | None = Field(description="revenue / spend; null when nothing was spent")


class Revenue(BaseModel):
    currency: str
    payments: int
    amount_minor: int


class Dashboard(BaseModel):
    generated_at: datetime
    agents_by_status: dict[str, int]
    tasks_last_24h: TaskSummary
    llm_this_month: list[ProviderUsage]
    conversations_by_state: dict[str, int] = Field(
        description="open (the agent answers), escalated (a human took over), closed"
    )
    campaigns_by_platform: list[PlatformSummary]
    revenue_this_month: list[Revenue] = Field(description="Succeeded payments, per currency.")
    recent_activity: list[Activity]
