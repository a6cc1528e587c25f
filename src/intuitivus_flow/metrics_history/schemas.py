"""Bodies of the metric-history API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class SeriesPoint(BaseModel):
    time: datetime = Field(description="Start of the step bucket (UTC).")
    avg: float = Field(description="Mean of the samples in the bucket.")
    max: float = Field(description="Largest sample in the bucket.")
    samples: int = Field(description="How many samples the bucket holds.")


class Series(BaseModel):
    name: str
    instance: str | None = Field(description="The one instance asked for; null = all of them.")
    start: datetime
    end: datetime
    step_seconds: int
    points: list[SeriesPoint]
