"""Operations pages for owners and admins: service health (charts) and alerts (silences).

Charts are inline SVG rendered here from the metric history; the alert page shows firing,
pending and muted alerts, silences (create, expire) and the recent history.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.alerts import service as alerts
from intuitivus_flow.alerts.rules import configured_rules
from intuitivus_flow.alerts.schemas import SilenceCreate
from intuitivus_flow.auth.operators import require_operator
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit import chart_data
from intuitivus_flow.kit.errors import FlowError, NotFound
from intuitivus_flow.kit.http.deps import DbSession
from intuitivus_flow.metrics_history import charts
from intuitivus_flow.metrics_history import service as history
from intuitivus_flow.web import csrf
from intuitivus_flow.web.app_context import Context
from intuitivus_flow.web.auth import CurrentViewer, Viewer
from intuitivus_flow.web.forms import (
    FormInvalid,
    FormState,
    read_fields,
    state_from_error,
    validate,
)
from intuitivus_flow.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
csrf_checked = [Depends(csrf.require_csrf)]

RANGES = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
}
DEFAULT_RANGE = "1h"
CHART_POINTS = 120
HISTORY_ROWS = 30
ALERT_CHART_DAYS = 14

NOTICES = {"silenced": "The silence was created.", "expired": "The silence was expired."}


@dataclass(frozen=True, slots=True)
class ChartSpec:
    title: str
    unit: str
    signals: tuple[tuple[str, str], ...]  # (signal, legend label)
    ceiling: float | None = None


CHARTS = (
    ChartSpec(
        "Response time",
        "ms",
        (
            ("response_time_p50_ms", "p50"),
            ("response_time_p95_ms", "p95"),
            ("response_time_p99_ms", "p99"),
        ),
    ),
    ChartSpec("Requests per second", "req/s", (("requests_per_second", "requests/s"),)),
    ChartSpec("Error rate", "ratio", (("error_rate_ratio", "5xx share"),)),
    ChartSpec("CPU", "%", (("cpu_usage_percent", "CPU"),), ceiling=100),
    ChartSpec("Memory", "%", (("memory_usage_percent", "memory"),), ceiling=100),
    ChartSpec("Disk", "%", (("disk_usage_percent", "data directory"),), ceiling=100),
    ChartSpec("Database pool", "% of pool", (("db_connections_percent", "in use"),), ceiling=100),
)


async def _refusal(
    request: Request,
    session: AsyncSession,
    viewer: Viewer,
    scope: Scope = Scope.operations_read,
) -> Response | None:
    """A 403 page for everyone but the instance's operators (auth/operators.py)."""
    settings = request.app.state.context.settings
    try:
        await require_operator(session, viewer.principal, settings, scope=scope)
    except FlowError:
        message = "Service health and alerts are available to the operators of this instance."
        context = {"viewer": viewer, "title": "Not allowed", "message": message}
        return render(request, "error.html", context, status_code=403)
    return None


async def _chart(
    session: AsyncSession, spec: ChartSpec, query: history.SeriesQuery
) -> dict[str, Any]:
    lines = []
    latest: list[tuple[str, float]] = []
    for signal, label in spec.signals:
        series = await history.get_series(session, signal, query)
        points = [(point.time, point.avg) for point in series.points]
        lines.append(charts.Line(label=label, points=points))
        if points:
            latest.append((label, points[-1][1]))
    chart = charts.Chart(
        title=spec.title,
        unit=spec.unit,
        lines=lines,
        start=query.start,
        end=query.end,
        ceiling=spec.ceiling,
    )
    data = chart_data.time_chart(
        chart_data.TimeChart(
            title=spec.title,
            unit=spec.unit,
            series=[chart_data.Series(line.label, line.points) for line in lines],
            floor=0.0,
            ceiling=spec.ceiling,
        )
    )
    return {"spec": spec, "svg": charts.render(chart), "latest": latest, "data": data}


@router.get("/service-health")
async def service_health(
    request: Request, session: DbSession, viewer: CurrentViewer, range: str = DEFAULT_RANGE
) -> Response:
    if refusal := await _refusal(request, session, viewer):
        return refusal
    chosen = range if range in RANGES else DEFAULT_RANGE
    now = datetime.now(UTC)
    span = RANGES[chosen]
    step = max(1, int(span.total_seconds() // CHART_POINTS))
    query = history.resolve_query(now=now, start=now - span, end=now, step=step)
    panels = [await _chart(session, spec, query) for spec in CHARTS]
    context = {"viewer": viewer, "panels": panels, "ranges": list(RANGES), "chosen": chosen}
    return render(request, "service_health.html", context)


async def _render_alerts(
    request: Request,
    session: AsyncSession,
    viewer: Viewer,
    context: Any,
    *,
    form: FormState | None = None,
    notice: str | None = None,
    alert: str | None = None,
    status_code: int = 200,
) -> Response:
    now = datetime.now(UTC)
    board = await alerts.board(session)
    silences = await alerts.list_silences(
        session, now=now, include_expired=False, limit=100, offset=0
    )
    recent = await alerts.history(session, name=None, limit=HISTORY_ROWS, offset=0)
    changes = await alerts.daily_changes(session, days=ALERT_CHART_DAYS, now=now)
    try:
        slos = await alerts.slo_status(session, configured_rules(context.settings), now=now)
    except ValueError:  # an unusable rule file; the evaluator logs why
        slos = []
    page = {
        "viewer": viewer,
        "board": board,
        "silences": silences.items,
        "history": recent.items,
        "changes": _changes_chart(changes),
        "slos": slos,
        "form": form or FormState(),
        "notice": notice,
        "alert": alert,
        "now": now,
    }
    return render(request, "alerts.html", page, status_code=status_code)


def _changes_chart(changes: alerts.DailyChanges) -> dict[str, Any]:
    """Alerts fired and resolved per day: the server's SVG and the data charts.js draws.

    A fortnight without a single change is the empty state, not two flat lines at zero."""
    title = f"Alerts fired and resolved per day, last {len(changes.days)} days"
    quiet = not any(changes.fired) and not any(changes.resolved)
    lines = [
        charts.Line(
            label, [] if quiet else list(zip(changes.days, map(float, counts), strict=True))
        )
        for label, counts in (("fired", changes.fired), ("resolved", changes.resolved))
    ]
    chart = charts.Chart(
        title=title, unit="alerts", lines=lines, start=changes.days[0], end=changes.days[-1]
    )
    data = chart_data.time_chart(
        chart_data.TimeChart(
            title=title,
            unit="alerts",
            series=[chart_data.Series(line.label, line.points) for line in lines],
            empty=f"No alert fired or resolved in the last {len(changes.days)} days",
            floor=0.0,
            extra={"period": "day", "integers": True},
        )
    )
    return {"svg": charts.render(chart), "data": data}


@router.get("/alerts")
async def alerts_page(
    request: Request,
    session: DbSession,
    viewer: CurrentViewer,
    context: Context,
    done: str | None = None,
) -> Response:
    if refusal := await _refusal(request, session, viewer):
        return refusal
    return await _render_alerts(request, session, viewer, context, notice=NOTICES.get(done or ""))


def _matchers(raw: str) -> list[dict[str, str]]:
    """`alertname=HighCpuUsage, instance=~web-.*` -> matcher dicts (validated by the schema)."""
    found = []
    for part in filter(None, (piece.strip() for piece in raw.split(","))):
        for op in ("=~", "!~", "!=", "="):
            if op in part:
                name, value = part.split(op, 1)
                found.append({"name": name.strip(), "op": op, "value": value.strip()})
                break
        else:
            found.append({"name": part, "op": "=", "value": ""})
    return found


@router.post("/alerts/silences", dependencies=csrf_checked)
async def create_silence(
    request: Request, session: DbSession, viewer: CurrentViewer, context: Context
) -> Response:
    if refusal := await _refusal(request, session, viewer, Scope.operations_write):
        return refusal
    values = await read_fields(request, ("matchers", "duration_minutes", "comment"))
    data: dict[str, object] = {
        "matchers": _matchers(values["matchers"]),
        "duration_minutes": values["duration_minutes"] or None,
        "comment": values["comment"],
    }
    try:
        wanted = validate(SilenceCreate, data, values)
        actor = f"user:{viewer.user.email}"
        await alerts.create_silence(session, wanted, created_by=actor, now=datetime.now(UTC))
    except FormInvalid as invalid:
        return await _render_alerts(
            request,
            session,
            viewer,
            context,
            form=invalid.state,
            status_code=invalid.state.status_code,
        )
    except FlowError as error:
        state = state_from_error(error, values)
        return await _render_alerts(
            request, session, viewer, context, form=state, status_code=error.status_code
        )
    return redirect("/alerts?done=silenced")


@router.post("/alerts/silences/{silence_id}/expire", dependencies=csrf_checked)
async def expire_silence(
    request: Request, silence_id: str, session: DbSession, viewer: CurrentViewer, context: Context
) -> Response:
    if refusal := await _refusal(request, session, viewer, Scope.operations_write):
        return refusal
    try:
        parsed = uuid.UUID(silence_id)
    except ValueError:
        raise NotFound("Silence not found") from None
    try:
        await alerts.expire_silence(
            session, parsed, expired_by=f"user:{viewer.user.email}", now=datetime.now(UTC)
        )
    except FlowError as error:
        await session.rollback()
        await session.refresh(viewer.user)
        await session.refresh(viewer.workspace)
        return await _render_alerts(
            request, session, viewer, context, alert=error.detail, status_code=error.status_code
        )
    return redirect("/alerts?done=expired")
