"""Request and response bodies of the KPI, CLV and goal routes."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field, model_validator

from intuitivus_flow.analytics.kpis import Kpi, Level


class MrrMovementsRead(BaseModel):
    start_mrr: float
    end_mrr: float
    new: float
    reactivation: float
    expansion: float
    contraction: float
    churn: float
    customers_at_start: int
    customers_at_end: int
    new_customers: int
    churned_customers: int


class ChurnRead(BaseModel):
    customer_chartmogul: float | None
    customer_stripe: float | None
    revenue_gross_chartmogul: float | None
    revenue_net_chartmogul: float | None
    revenue_stripe: float | None
    grr: float | None
    nrr: float | None


class PlatformMonthRead(BaseModel):
    month: date
    mrr: float
    movements: MrrMovementsRead
    churn: ChurnRead
    arpa: float | None
    arpu: float | None
    trial_conversion: float | None
    subscription_clv: float | None


class PlatformKpis(BaseModel):
    level: Level = Level.platform
    currency: str | None = Field(description="Money KPIs are in minor units of this currency")
    months: list[PlatformMonthRead]


class WorkspaceMonthRead(BaseModel):
    month: date
    contacts: int
    customers: int
    revenue_minor: int
    contact_to_customer: float | None
    revenue_per_customer: float | None


class WorkspaceKpis(BaseModel):
    level: Level = Level.workspace
    months: list[WorkspaceMonthRead]


class FeatureAdoption(BaseModel):
    feature: str
    date_from: datetime
    date_to: datetime
    adoption: float | None = Field(description="Users of the feature / active users; null: none")


class BgNbdRead(BaseModel):
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float


class GammaGammaRead(BaseModel):
    p: float
    q: float
    gamma: float
    log_likelihood: float


class ContactPredictionRead(BaseModel):
    contact_id: str
    frequency: int = Field(description="Repeat purchases")
    recency_weeks: float
    age_weeks: float
    p_alive: float
    expected_purchases: float
    expected_spend_minor: float | None


class ContactsClvRead(BaseModel):
    calibration_end: date
    horizon_weeks: float
    customers: int
    problem: str | None = Field(description="Why there is no fit (e.g. no repeat purchases)")
    bgnbd: BgNbdRead | None
    gamma_gamma: GammaGammaRead | None
    contacts: list[ContactPredictionRead]


class GoalCreate(BaseModel):
    kpi: Kpi
    target_change_percent: float = Field(
        ge=-100, le=1000, description="Target change against the baseline, e.g. 20 for +20 %"
    )
    baseline_start: date = Field(description="A day of the baseline's first month")
    baseline_end: date = Field(description="A day of the baseline's last month")
    due: date = Field(description="A day of the month the target is for")

    @model_validator(mode="after")
    def _ordered(self) -> GoalCreate:
        if self.target_change_percent == 0:
            raise ValueError("target_change_percent must not be 0")
        start = (self.baseline_start.year, self.baseline_start.month)
        end = (self.baseline_end.year, self.baseline_end.month)
        due = (self.due.year, self.due.month)
        if not start <= end < due:
            raise ValueError("the baseline must end before the due month and start before it ends")
        if (end[0] - start[0]) * 12 + end[1] - start[1] >= 24:
            raise ValueError("the baseline spans at most 24 months")
        if (due[0] - start[0]) * 12 + due[1] - start[1] >= 36:
            raise ValueError("the due month is at most 36 months after the baseline starts")
        return self


class GoalPoint(BaseModel):
    month: date
    value: float | None
    in_baseline: bool


class GoalRead(BaseModel):
    id: uuid.UUID
    kpi: Kpi
    level: Level
    target_change_percent: float
    baseline_start: date
    baseline_end: date
    due: date
    created_at: datetime
    baseline_value: float | None
    target_value: float | None
    current_value: float | None
    progress: float | None = Field(
        description="Share of the way from baseline to target reached by the newest month "
        "(1.0 = met; negative = moved away)"
    )
    dropping: bool = Field(description="The watcher saw the KPI drop (an alert is raised)")
    last_checked_at: datetime | None
    points: list[GoalPoint]
