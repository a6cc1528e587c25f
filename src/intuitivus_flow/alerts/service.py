"""Alerting use cases for the API, the CLI and the pages: read alerts, manage silences, SLOs.

Operations data is instance-wide; callers are operators (see metrics_history/operator_guard.py), so
these functions take the acting operator's name where they record who did something.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.alerts.engine import window_counts
from intuitivus_flow.alerts.models import (
    Alert,
    AlertState,
    AlertTransition,
    NotificationDelivery,
    Silence,
)
from intuitivus_flow.alerts.repository import (
    AlertRepository,
    DeliveryRepository,
    SilenceRepository,
    TransitionRepository,
)
from intuitivus_flow.alerts.rules import RuleSet
from intuitivus_flow.alerts.schemas import MAX_SILENCE, SilenceCreate, SloStatus
from intuitivus_flow.alerts.slo import allowed_bad_requests, reported_error_budget
from intuitivus_flow.kit.errors import Conflict, InvalidInput
from intuitivus_flow.kit.repository import Page
from intuitivus_flow.metrics_history.repository import MetricRepository

LIVE_STATES = (AlertState.pending, AlertState.firing)


@dataclass(frozen=True, slots=True)
class AlertBoard:
    """What the alerts page and `GET /api/alerts` show."""

    firing: Sequence[Alert]
    pending: Sequence[Alert]

    @property
    def silenced(self) -> list[Alert]:
        return [alert for alert in (*self.firing, *self.pending) if alert.muted]


async def board(session: AsyncSession) -> AlertBoard:
    repository = AlertRepository(session)
    live = await repository.all(repository.in_states(LIVE_STATES))
    return AlertBoard(
        firing=[a for a in live if a.state == AlertState.firing],
        pending=[a for a in live if a.state == AlertState.pending],
    )


async def history(
    session: AsyncSession, *, name: str | None, limit: int, offset: int
) -> Page[AlertTransition]:
    repository = TransitionRepository(session)
    return await repository.paginate(repository.newest_first(name=name), limit=limit, offset=offset)


@dataclass(frozen=True, slots=True)
class DailyChanges:
    """Alerts that started firing and that resolved, per UTC day (oldest first, zeros kept)."""

    days: Sequence[datetime]  # midnight UTC of each day
    fired: Sequence[int]
    resolved: Sequence[int]


async def daily_changes(session: AsyncSession, *, days: int, now: datetime) -> DailyChanges:
    """How many alerts fired and resolved on each of the last `days` days, today included.

    Counted in Python from two columns: a day's bucket is the same on SQLite and PostgreSQL
    this way, and an instance records a few dozen changes a day, not millions."""
    today = _utc(now).replace(hour=0, minute=0, second=0, microsecond=0)
    starts = [today - timedelta(days=back) for back in range(days - 1, -1, -1)]
    fired = dict.fromkeys(starts, 0)
    resolved = dict.fromkeys(starts, 0)
    states = (AlertState.firing, AlertState.resolved)
    for at, state in await TransitionRepository(session).moments_since(starts[0], states):
        moment = _utc(at)
        day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        counts = fired if state == AlertState.firing else resolved
        if day in counts:  # a clock ahead of `now` would land past today
            counts[day] += 1
    return DailyChanges(days=starts, fired=list(fired.values()), resolved=list(resolved.values()))


async def deliveries(
    session: AsyncSession, *, limit: int, offset: int
) -> Page[NotificationDelivery]:
    repository = DeliveryRepository(session)
    return await repository.paginate(repository.newest_first(), limit=limit, offset=offset)


# --- silences ---------------------------------------------------------------------------------


async def list_silences(
    session: AsyncSession, *, now: datetime, include_expired: bool, limit: int, offset: int
) -> Page[Silence]:
    repository = SilenceRepository(session)
    statement = repository.listing(now=now, include_expired=include_expired)
    return await repository.paginate(statement, limit=limit, offset=offset)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def create_silence(
    session: AsyncSession, wanted: SilenceCreate, *, created_by: str, now: datetime
) -> Silence:
    starts_at = _utc(wanted.starts_at) if wanted.starts_at else now
    if wanted.ends_at is not None:
        ends_at = _utc(wanted.ends_at)
    else:
        ends_at = starts_at + timedelta(minutes=wanted.duration_minutes or 0)
    if ends_at <= max(starts_at, now):
        raise InvalidInput("a silence must end after it starts and in the future", field="ends_at")
    if ends_at - starts_at > MAX_SILENCE:
        raise InvalidInput(f"a silence may last at most {MAX_SILENCE.days} days", field="ends_at")
    silence = Silence(
        matchers=[matcher.model_dump() for matcher in wanted.matchers],
        starts_at=starts_at,
        ends_at=ends_at,
        comment=wanted.comment,
        created_by=created_by[:200],
        created_at=now,
    )
    return await SilenceRepository(session).add(silence)


async def expire_silence(
    session: AsyncSession, silence_id: uuid.UUID, *, expired_by: str, now: datetime
) -> Silence:
    """End a silence now; the next evaluation un-mutes what it covered."""
    silence = await SilenceRepository(session).get_or_raise(silence_id)
    if silence.ends_at <= now:
        raise Conflict("This silence has already expired")
    silence.ends_at = max(now, silence.starts_at)
    silence.expired_by = expired_by[:200]
    await session.flush()
    return silence


# --- SLOs -------------------------------------------------------------------------------------


async def slo_status(session: AsyncSession, rules: RuleSet, *, now: datetime) -> list[SloStatus]:
    """Remaining error budget of each SLO over its whole window (e.g. 30 days)."""
    metrics = MetricRepository(session)
    found = []
    for rule in rules.slos:
        counts = await window_counts(metrics, rule, now=now, window=rule.window)
        found.append(
            SloStatus(
                name=rule.name,
                slo=rule.slo,
                kind=rule.kind,
                objective=rule.objective,
                window_days=rule.window.total_seconds() / 86400,
                total_requests=counts.total,
                bad_requests=counts.bad,
                allowed_bad_requests=allowed_bad_requests(counts.total, rule.objective),
                min_requests=rule.budget_min_requests,
                remaining_error_budget=reported_error_budget(
                    counts, rule.objective, min_requests=rule.budget_min_requests
                ),
            )
        )
    return found
