"""The `forecast_models` table: one trained model per (signal, detector).

Instance-wide operations data like the alert tables (no workspace). `state` holds what the
training learned, as JSON (see `forecasting/training.py` for its keys), so a restart or another
instance picks the model up without refitting.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Float, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from intuitivus_flow.kit.models import Base, IdMixin, TimestampMixin, str_enum, utcnow

ERROR_LENGTH = 500


class ModelStatus(StrEnum):
    cold_start = "cold_start"  # not enough history yet: predicts nothing
    training = "training"  # a fit is running (the previous state, if any, still predicts)
    ready = "ready"
    failed = "failed"  # the last fit or prediction raised: predicts nothing until a refit works


class TrainReason(StrEnum):
    initial = "initial"
    schedule = "schedule"
    drift = "drift"
    retry = "retry"  # after a failure, or a fit that never finished


class ForecastModel(IdMixin, TimestampMixin, Base):
    __tablename__ = "forecast_models"
    __table_args__ = (UniqueConstraint("signal", "detector"),)

    signal: Mapped[str] = mapped_column(String(64))
    detector: Mapped[str] = mapped_column(String(64))
    status: Mapped[ModelStatus] = mapped_column(
        str_enum(ModelStatus), default=ModelStatus.cold_start
    )
    # None until the first successful fit; kept through later failures for the record.
    state: Mapped[dict[str, Any] | None]
    trained_at: Mapped[datetime | None]  # last successful fit
    checked_at: Mapped[datetime]  # last time the trainer looked at it (fit, or cold start)
    points_used: Mapped[int] = mapped_column(Integer, default=0)
    train_reason: Mapped[TrainReason | None] = mapped_column(str_enum(TrainReason))
    drift_score: Mapped[float | None] = mapped_column(Float)  # last KS distance / critical value
    last_error: Mapped[str | None] = mapped_column(String(ERROR_LENGTH))

    @property
    def predicts(self) -> bool:
        """A usable fitted state: ready, or being refitted (the old state still holds)."""
        return self.state is not None and self.status in (ModelStatus.ready, ModelStatus.training)


class DetectorStream(IdMixin, TimestampMixin, Base):
    """The incremental detector state of one model (``predictive/detectors/stream.py``).

    The evaluator feeds it the steps after ``last_step`` instead of rescoring the history at
    every step. It starts at the model's ``history_start`` (so its scores are those of the
    detector over the fitted window); a refit (new ``history_start``) or another detector
    version (``detector_version``, a fingerprint of its parameters) rebuilds it from there.
    """

    __tablename__ = "forecast_detector_streams"

    model_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("forecast_models.id", ondelete="CASCADE"), unique=True
    )
    detector_version: Mapped[str] = mapped_column(String(32))
    history_start: Mapped[datetime]
    last_step: Mapped[datetime]
    points: Mapped[int] = mapped_column(Integer)
    last_score: Mapped[float] = mapped_column(Float)  # of `last_step` (a restart asks again)
    state: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
