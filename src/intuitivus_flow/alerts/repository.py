"""All SQL of the alerting tables. Instance-wide data: plain `Repository`, no workspace scope."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Select, delete, or_, select

from intuitivus_flow.alerts.models import (
    Alert,
    AlertState,
    AlertTransition,
    DeliveryState,
    NotificationAttempt,
    NotificationDelivery,
    Silence,
)
from intuitivus_flow.kit.repository import Repository


class AlertRepository(Repository[Alert]):
    not_found_message = "Alert not found"
    model = Alert

    async def relevant(self, fingerprints: Collection[str]) -> Sequence[Alert]:
        """Alerts the engine must look at: those observed now and those still live."""
        live = [AlertState.pending, AlertState.firing]
        condition: ColumnElement[bool] = Alert.state.in_(live)
        if fingerprints:
            condition = or_(condition, Alert.fingerprint.in_(list(fingerprints)))
        return await self.all(self.scoped().where(condition))

    def in_states(self, states: Collection[str]) -> Select[Alert]:
        return (
            self.scoped()
            .where(Alert.state.in_(list(states)))
            .order_by(Alert.name, Alert.fingerprint)
        )


class TransitionRepository(Repository[AlertTransition]):
    model = AlertTransition

    def newest_first(self, *, name: str | None = None) -> Select[AlertTransition]:
        statement = self.scoped().order_by(AlertTransition.at.desc(), AlertTransition.id)
        if name is not None:
            statement = statement.where(AlertTransition.name == name)
        return statement

    async def moments_since(
        self, since: datetime, states: Collection[AlertState]
    ) -> Sequence[tuple[datetime, AlertState]]:
        """When each change into one of `states` happened since `since` (two small columns)."""
        statement = select(AlertTransition.at, AlertTransition.to_state).where(
            AlertTransition.at >= since, AlertTransition.to_state.in_(list(states))
        )
        rows = await self.execute(statement)
        return [(at, state) for at, state in rows.all()]


class SilenceRepository(Repository[Silence]):
    not_found_message = "Silence not found"
    model = Silence

    async def active(self, now: datetime) -> Sequence[Silence]:
        return await self.all(
            self.scoped()
            .where(Silence.starts_at <= now, Silence.ends_at > now)
            .order_by(Silence.ends_at)
        )

    def listing(self, *, now: datetime, include_expired: bool) -> Select[Silence]:
        statement = self.scoped().order_by(Silence.ends_at.desc())
        if not include_expired:
            statement = statement.where(Silence.ends_at > now)
        return statement


class DeliveryRepository(Repository[NotificationDelivery]):
    model = NotificationDelivery

    def newest_first(self) -> Select[NotificationDelivery]:
        return self.scoped().order_by(
            NotificationDelivery.created_at.desc(), NotificationDelivery.id
        )

    async def delete_finished(self, *, created_before: datetime, limit: int) -> int:
        """Delete up to `limit` finished deliveries (delivered or given up) created before the
        cutoff, with their attempts; returns how many deliveries went.

        The attempts are deleted by hand rather than left to ON DELETE CASCADE, so the prune
        does not depend on SQLite's foreign-key pragma being on for the connection.
        """
        ids = list(
            (
                await self.session.execute(
                    select(NotificationDelivery.id)
                    .where(
                        NotificationDelivery.state.in_(
                            [DeliveryState.delivered, DeliveryState.failed]
                        ),
                        NotificationDelivery.created_at < created_before,
                    )
                    .limit(limit)
                )
            ).scalars()
        )
        if not ids:
            return 0
        await self.session.execute(
            delete(NotificationAttempt)
            .where(NotificationAttempt.delivery_id.in_(ids))
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(
            delete(NotificationDelivery)
            .where(NotificationDelivery.id.in_(ids))
            .execution_options(synchronize_session=False)
        )
        return len(ids)


class AttemptRepository(Repository[NotificationAttempt]):
    model = NotificationAttempt

    def of_delivery(self, delivery_id: object) -> Select[NotificationAttempt]:
        return (
            self.scoped()
            .where(NotificationAttempt.delivery_id == delivery_id)
            .order_by(NotificationAttempt.number)
        )
