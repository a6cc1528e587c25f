"""Alert state, history, silences, notification outbox and leases.

These tables are instance-wide (operations data, no workspace). One `alerts` row exists per
fingerprint (rule + label set), so an alert is deduplicated by construction: evaluating the
same condition twice updates the row instead of raising a second alert. Every change of state
is appended to `alert_history`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from intuitivus_flow.kit.models import Base, IdMixin, JSONType, TimestampMixin, str_enum, utcnow


class AlertState(StrEnum):
    inactive = "inactive"
    pending = "pending"  # the condition holds, not yet for the rule's `for`
    firing = "firing"
    resolved = "resolved"


class Alert(IdMixin, Base):
    __tablename__ = "alerts"

    fingerprint: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    labels: Mapped[dict[str, Any]]
    annotations: Mapped[dict[str, Any]]
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[AlertState] = mapped_column(str_enum(AlertState), index=True)
    value: Mapped[float | None] = mapped_column(Float)
    active_at: Mapped[datetime | None]  # when the current episode started (pending)
    fired_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    last_true_at: Mapped[datetime | None]  # last evaluation that met the condition
    evaluated_at: Mapped[datetime]
    silenced_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("silences.id", ondelete="SET NULL")
    )
    inhibited_by: Mapped[str | None] = mapped_column(String(128))
    # What the receivers were last told ("firing"/"resolved"), so each way is sent once.
    notified_state: Mapped[AlertState | None] = mapped_column(str_enum(AlertState))

    @property
    def muted(self) -> bool:
        return self.silenced_by is not None or self.inhibited_by is not None


class AlertTransition(IdMixin, Base):
    __tablename__ = "alert_history"
    __table_args__ = (Index("ix_alert_history_name_at", "name", "at"),)

    alert_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), index=True
    )
    fingerprint: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(128))
    labels: Mapped[dict[str, Any]]
    from_state: Mapped[AlertState] = mapped_column(str_enum(AlertState))
    to_state: Mapped[AlertState] = mapped_column(str_enum(AlertState))
    value: Mapped[float | None] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(index=True)
    muted: Mapped[bool] = mapped_column(Boolean, default=False)


class Silence(IdMixin, TimestampMixin, Base):
    __tablename__ = "silences"

    # [{"name": "alertname", "op": "=", "value": "HighCpuUsage"}, ...]; all must match.
    matchers: Mapped[list[dict[str, str]]] = mapped_column(JSONType)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime] = mapped_column(index=True)
    comment: Mapped[str] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(200))
    expired_by: Mapped[str | None] = mapped_column(String(200))

    def active_at(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at


class DeliveryState(StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"  # gave up after the last retry


class NotificationDelivery(IdMixin, TimestampMixin, Base):
    """One notification (a group of alerts, firing or resolved) for one receiver: an outbox.

    Written in the same transaction as the state change that caused it, so a crash between
    deciding and sending can neither lose nor duplicate it; the dispatcher sends and retries.
    """

    __tablename__ = "notification_deliveries"
    __table_args__ = (Index("ix_notification_deliveries_state_due", "state", "next_attempt_at"),)

    group_key: Mapped[str] = mapped_column(String(200))
    status: Mapped[AlertState] = mapped_column(str_enum(AlertState))  # firing | resolved
    channel: Mapped[str] = mapped_column(String(16))  # webhook | slack | email
    # The destination is looked up in the settings by this digest at send time, so webhook
    # URLs with tokens in them are never stored; `target_label` is a redacted form to show.
    target_key: Mapped[str] = mapped_column(String(32))
    target_label: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]]
    state: Mapped[DeliveryState] = mapped_column(
        str_enum(DeliveryState), default=DeliveryState.pending
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))


class NotificationAttempt(IdMixin, Base):
    """Every try to send a delivery, successful or not."""

    __tablename__ = "notification_attempts"

    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("notification_deliveries.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    ok: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    duration_ms: Mapped[float] = mapped_column(Float)


class Lease(Base):
    """A named lock with an expiry: whoever holds an unexpired row does the named job."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[datetime]
    expires_at: Mapped[datetime]
