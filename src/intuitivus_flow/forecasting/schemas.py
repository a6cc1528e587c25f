"""Bodies of the forecasting API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class ModelState(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    signal: str
    detector: str
    status: str = Field(description="cold_start | training | ready | failed")
    trained_at: datetime | None = Field(description="Last successful fit.")
    checked_at: datetime = Field(description="Last time the trainer looked at the model.")
    points_used: int = Field(description="Steps of history seen at that time.")
    min_points: int = Field(description="Steps needed before the model predicts (cold start).")
    train_reason: str | None = Field(description="initial | schedule | drift | retry")
    drift_score: float | None = Field(
        description="KS distance of recent step changes over its critical value (> 1: drift)."
    )
    last_error: str | None


class HistoryPoint(BaseModel):
    time: datetime = Field(description="Start of the step.")
    value: float = Field(description="Mean of the samples in the step, across instances.")


class ForecastPoint(BaseModel):
    time: datetime
    value: float = Field(description="Median forecast: trend plus the daily/weekly season.")
    lower: float = Field(description="80 % band, lower bound.")
    upper: float = Field(description="80 % band, upper bound.")


class Anomaly(BaseModel):
    time: datetime
    value: float
    score: float = Field(description="Detector score; >= 0.5 is an anomaly alert.")


class ThresholdLine(BaseModel):
    rule: str
    operator: str
    value: float


class BreachPrediction(BaseModel):
    predicted_at: datetime
    earliest: datetime
    latest: datetime | None = Field(
        description="null: the optimistic 80 % bound does not cross within four horizons."
    )
    slope_per_hour: float = Field(description="Trend of the deseasonalised signal.")


class Forecast(BaseModel):
    name: str
    step_seconds: int
    horizon_seconds: int
    generated_at: datetime
    history: list[HistoryPoint]
    forecast: list[ForecastPoint] = Field(description="Empty while the model cannot predict.")
    seasonality: list[str] = Field(
        default_factory=list, description="Seasons the forecast models: daily, weekly."
    )
    forecast_unavailable: str | None = Field(
        default=None, description="Why a predicting model shows no forecast, if it does not."
    )
    anomalies: list[Anomaly]
    threshold: ThresholdLine | None = Field(
        description="From the signal's forecast_breach rule, else its threshold rule."
    )
    breach: BreachPrediction | None = Field(
        description="Predicted crossing of the threshold within the horizon, if any."
    )
    model: ModelState | None = Field(description="null: no predictive rule uses this signal.")
