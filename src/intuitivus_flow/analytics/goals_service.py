"""KPI goals: create, list, progress month by month, and the watcher that alerts on drops.

Progress: the baseline is the mean of the KPI over the baseline months, the target the
baseline moved by `target_change_percent`; each month after the baseline is compared with
both. The watcher scores a daily series of the KPI over trailing 7-day windows with the
predictive detector (predictive/detectors, the one the forecasting models use) and, when the
newest day is flagged and is worse than the month before, raises `KpiGoalDropping` through the
alert lifecycle (pending -> firing -> resolved, transitions, notifications) like every other
alert; the alert resolves when the KPI stops dropping.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from statistics import fmean, median

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.alerts.engine import (
    OBSERVED_BY,
    Observation,
    Timing,
    advance,
    new_alert,
    plan_notifications,
    transition,
)
from intuitivus_flow.alerts.models import AlertState
from intuitivus_flow.alerts.notifications import service as notifications
from intuitivus_flow.alerts.notifications.service import Notifier
from intuitivus_flow.alerts.repository import AlertRepository
from intuitivus_flow.analytics import kpis_service
from intuitivus_flow.analytics.goals_models import KpiGoal
from intuitivus_flow.analytics.goals_repository import GoalRepository, WatchedGoalRepository
from intuitivus_flow.analytics.kpi_schemas import GoalCreate, GoalPoint, GoalRead
from intuitivus_flow.analytics.kpis import Kpi, Level
from intuitivus_flow.auth.operators import require_operator
from intuitivus_flow.config import Settings
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import Forbidden
from intuitivus_flow.predictive.detectors import get_detector

ALERT_NAME = "KpiGoalDropping"
WATCHER = "analytics.watch_kpi_goals"
# The watcher's series: the KPI over the 7 days before each midnight. A week smooths the
# day-of-week noise of rates; a 30-day window smooths a drop so much the detector sees a
# trend, not a break (benchmarked by hand: a sales stop scores 0.52 on the 4th day at 7 days,
# < 0.5 for a week at 30). 400 days: the default detector's cold start is 150 points and its
# calibration follows, so a younger series gets no verdict (never a false alarm).
ROLLING_WINDOW = timedelta(days=7)
WATCH_DAYS = 400
FLAG_MEMORY_DAYS = 7
ALERT_SCORE = 0.5  # the detectors' contract: a score >= 0.5 means "an alert fires here"


async def _check_access(
    session: AsyncSession, principal: Principal, settings: Settings, kpi: Kpi, *, write: bool
) -> None:
    principal.require_scope(Scope.workspace_write if write else Scope.events_read)
    if kpi.level is Level.platform:
        scope = Scope.operations_write if write else Scope.operations_read
        await require_operator(session, principal, settings, scope=scope)


async def _is_operator(session: AsyncSession, principal: Principal, settings: Settings) -> bool:
    try:
        await require_operator(session, principal, settings, scope=Scope.operations_read)
    except Forbidden:
        return False
    return True


async def create_goal(
    session: AsyncSession, principal: Principal, settings: Settings, *, data: GoalCreate
) -> KpiGoal:
    await _check_access(session, principal, settings, data.kpi, write=True)
    goal = KpiGoal(
        kpi=data.kpi,
        target_change_percent=data.target_change_percent,
        baseline_start=data.baseline_start.replace(day=1),
        baseline_end=data.baseline_end.replace(day=1),
        due=data.due.replace(day=1),
        created_by_id=principal.user_id,
    )
    return await GoalRepository(session, principal.workspace_id).add(goal)


async def list_goals(
    session: AsyncSession, principal: Principal, settings: Settings, *, today: date | None = None
) -> list[GoalRead]:
    principal.require_scope(Scope.events_read)
    goals = await GoalRepository(session, principal.workspace_id).listing()
    operator: bool | None = None
    found = []
    for goal in goals:
        if goal.kpi.level is Level.platform:
            if operator is None:
                operator = await _is_operator(session, principal, settings)
            if not operator:
                continue  # a member sees the workspace's marketing goals only
        found.append(await progress(session, goal, today=today))
    return found


async def get_goal(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    goal_id: uuid.UUID,
    *,
    today: date | None = None,
) -> GoalRead:
    goal = await GoalRepository(session, principal.workspace_id).get_or_raise(goal_id)
    await _check_access(session, principal, settings, goal.kpi, write=False)
    return await progress(session, goal, today=today)


async def delete_goal(
    session: AsyncSession, principal: Principal, settings: Settings, goal_id: uuid.UUID
) -> None:
    repository = GoalRepository(session, principal.workspace_id)
    goal = await repository.get_or_raise(goal_id)
    await _check_access(session, principal, settings, goal.kpi, write=True)
    await repository.delete(goal)


def _month_count(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month + 1


def target_of(baseline: float | None, change_percent: float) -> float | None:
    return None if baseline is None else baseline * (1 + change_percent / 100)


def progress_towards(
    value: float | None, baseline: float | None, target: float | None
) -> float | None:
    """0 at the baseline, 1 at the target, whichever direction the target lies in."""
    if value is None or baseline is None or target is None or target == baseline:
        return None
    return (value - baseline) / (target - baseline)


async def progress(session: AsyncSession, goal: KpiGoal, *, today: date | None = None) -> GoalRead:
    today = today or datetime.now(UTC).date()
    last = min(goal.due, today)
    months = max(1, min(_month_count(goal.baseline_start, last), kpis_service.MAX_MONTHS))
    if goal.kpi.level is Level.platform:
        platform = await kpis_service.compute_platform_report(session, last=last, months=months)
        values = [(m.month.date(), m.value(goal.kpi)) for m in platform.months]
    else:
        report = await kpis_service.compute_workspace_report(
            session, goal.workspace_id, last=last, months=months
        )
        values = [(m.month.date(), m.value(goal.kpi)) for m in report.months]
    points = [
        GoalPoint(month=month, value=value, in_baseline=month <= goal.baseline_end)
        for month, value in values
        if month >= goal.baseline_start
    ]
    baseline_values = [p.value for p in points if p.in_baseline and p.value is not None]
    baseline = fmean(baseline_values) if baseline_values else None
    target = target_of(baseline, goal.target_change_percent)
    after = [p for p in points if not p.in_baseline and p.value is not None]
    current = after[-1].value if after else None
    return GoalRead(
        id=goal.id,
        kpi=goal.kpi,
        level=goal.kpi.level,
        target_change_percent=goal.target_change_percent,
        baseline_start=goal.baseline_start,
        baseline_end=goal.baseline_end,
        due=goal.due,
        created_at=goal.created_at,
        baseline_value=baseline,
        target_value=target,
        current_value=current,
        progress=progress_towards(current, baseline, target),
        dropping=goal.dropping,
        last_checked_at=goal.last_checked_at,
        points=points,
    )


# -- the watcher ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DropVerdict:
    dropping: bool
    value: float | None
    score: float
    reference: float | None  # the median of the 4 weeks before the newest day


def daily_series(
    kpi: Kpi,
    rows: kpis_service.PlatformRows | kpis_service.WorkspaceRows,
    *,
    end: datetime,
    days: int = WATCH_DAYS,
) -> list[tuple[datetime, float | None]]:
    """The KPI over the 7 days before each of the last `days` midnights up to `end`."""
    last = end.replace(hour=0, minute=0, second=0, microsecond=0)
    series = []
    for back in range(days - 1, -1, -1):
        day = last - timedelta(days=back)
        series.append((day, kpis_service.kpi_value(kpi, rows, day - ROLLING_WINDOW, day)))
    return series


def judge(
    kpi: Kpi, series: Sequence[tuple[datetime, float | None]], *, detector: str = "default"
) -> DropVerdict:
    """Did the newest day drop? Flagged by the detector and worse than the 4 weeks before."""
    known = [(day, value) for day, value in series if value is not None]
    if len(known) < 2:
        return DropVerdict(False, known[-1][1] if known else None, 0.0, None)
    # A series with holes (rates undefined on quiet days) is scored on its known days.
    times = np.array([np.datetime64(day.replace(tzinfo=None), "us") for day, _ in known])
    values = np.array([value for _, value in known], dtype=np.float64)
    # The detector debounces: it flags the break once, then scores the following points of
    # the same event below 0.5. A drop it flagged within the last week still holds while the
    # KPI stays below where it was.
    score = float(np.max(get_detector(detector).score(times, values)[-FLAG_MEMORY_DAYS:]))
    newest = float(values[-1])
    previous = [float(v) for v in values[-29:-1]]
    reference = median(previous) if previous else None
    worse = reference is not None and (
        newest < reference if kpi.higher_is_better else newest > reference
    )
    return DropVerdict(score >= ALERT_SCORE and worse, newest, score, reference)


def observation(goal: KpiGoal, verdict: DropVerdict) -> Observation:
    direction = "fell" if goal.kpi.higher_is_better else "rose"
    return Observation(
        name=ALERT_NAME,
        labels={
            "severity": "warning",
            OBSERVED_BY: WATCHER,
            "kpi": goal.kpi.value,
            "goal_id": str(goal.id),
            "workspace_id": str(goal.workspace_id),
        },
        annotations={
            "summary": f"KPI {goal.kpi.value} {direction} against its goal's trend",
            "description": (
                f"{goal.kpi.value} is {_num(verdict.value)} over the last 7 days; the 4 weeks "
                f"before it were around {_num(verdict.reference)} (detector score "
                f"{verdict.score:.2f}). Goal: {goal.target_change_percent:+g} % by "
                f"{goal.due:%Y-%m}."
            ),
        },
        breached=verdict.dropping,
        value=verdict.value,
        timing=Timing(),
    )


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


async def watch_goals(
    session: AsyncSession, *, now: datetime, notifier: Notifier | None, external_url: str
) -> dict[str, int]:
    """Score every goal's KPI and move its alert along the lifecycle (a system job)."""
    goals = await WatchedGoalRepository(session).every_goal()
    platform_rows: kpis_service.PlatformRows | None = None
    workspace_rows: dict[uuid.UUID, kpis_service.WorkspaceRows] = {}
    observations: dict[str, Observation] = {}
    for goal in goals:
        rows: kpis_service.PlatformRows | kpis_service.WorkspaceRows
        if goal.kpi.level is Level.platform:
            platform_rows = platform_rows or await kpis_service.load_platform_rows(session)
            rows = platform_rows
        else:
            if goal.workspace_id not in workspace_rows:
                workspace_rows[goal.workspace_id] = await kpis_service.load_workspace_rows(
                    session, goal.workspace_id
                )
            rows = workspace_rows[goal.workspace_id]
        verdict = judge(goal.kpi, daily_series(goal.kpi, rows, end=now))
        goal.dropping = verdict.dropping
        goal.last_checked_at = now
        found = observation(goal, verdict)
        observations[found.fingerprint] = found
    return await _advance_alerts(session, observations, now, notifier, external_url)


async def _advance_alerts(
    session: AsyncSession,
    observations: dict[str, Observation],
    now: datetime,
    notifier: Notifier | None,
    external_url: str,
) -> dict[str, int]:
    repository = AlertRepository(session)
    alerts = {
        alert.fingerprint: alert
        for alert in await repository.relevant(observations)
        if alert.labels.get(OBSERVED_BY) == WATCHER
    }
    before = {fp: alert.state for fp, alert in alerts.items()}
    for fp, seen in observations.items():
        alert = alerts.get(fp)
        if alert is None:
            if not seen.breached:
                continue
            alert = alerts[fp] = new_alert(seen, now)
            await repository.add(alert)
        alert.annotations = dict(seen.annotations)
        advance(alert, breached=seen.breached, value=seen.value, timing=seen.timing, now=now)
    for fp, alert in alerts.items():
        if fp not in observations:  # the goal is gone: its alert resolves
            advance(alert, breached=False, value=None, timing=Timing(), now=now)
    changed = 0
    for alert in alerts.values():
        previous = before.get(alert.fingerprint, AlertState.inactive)
        if alert.state != previous:
            session.add(transition(alert, previous, now))
            changed += 1
    queued = 0
    if notifier is not None:
        for (name, status), group in plan_notifications(alerts.values()).items():
            queued += notifications.queue(
                session,
                notifier,
                name=name,
                status=status,
                alerts=group,
                external_url=external_url,
                now=now,
            )
    await session.flush()
    firing = sum(1 for alert in alerts.values() if alert.state == AlertState.firing)
    return {"goals": len(observations), "transitions": changed, "firing": firing, "queued": queued}
