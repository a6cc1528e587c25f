"""KPI goals: a target change of a KPI against a baseline period (the plan's "+20 %")."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from intuitivus_flow.analytics.kpis import Kpi
from intuitivus_flow.kit.models import Base, IdMixin, TimestampMixin, str_enum


class KpiGoal(IdMixin, TimestampMixin, Base):
    """One workspace's goal on one KPI. Platform KPIs' goals belong to an operator workspace
    (the operators set them); workspace KPIs' goals to the workspace whose marketing they
    measure. Progress compares each month with the baseline months' mean."""

    __tablename__ = "kpi_goals"
    __table_args__ = (Index("ix_kpi_goals_workspace_id_kpi", "workspace_id", "kpi"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    kpi: Mapped[Kpi] = mapped_column(str_enum(Kpi, length=40))
    # "+20 %" is 20.0; a churn goal is a decrease, e.g. -25.0.
    target_change_percent: Mapped[float] = mapped_column(Float)
    baseline_start: Mapped[date] = mapped_column(Date)  # first day of the first baseline month
    baseline_end: Mapped[date] = mapped_column(Date)  # a day of the last baseline month
    due: Mapped[date] = mapped_column(Date)  # a day of the month the target is for
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    # What the watcher saw last (the KPI page shows it; the alert carries the details).
    last_checked_at: Mapped[datetime | None] = mapped_column(default=None)
    dropping: Mapped[bool] = mapped_column(default=False)
