"""The Analytics KPI pages: `/analytics/kpis` (KPI overview with charts and goals) and
`/analytics/contacts` (per-contact predicted purchases, spend and P(alive)).

Members with `events:read` see their workspace's marketing KPIs and goals; the instance's
operators also see the platform's business KPIs and goals. Goals are set through
`POST /api/analytics/goals`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from intuitivus_flow.analytics import goals_service, kpi_views, kpis_service
from intuitivus_flow.analytics.kpis import Level
from intuitivus_flow.auth.operators import require_operator
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import FlowError
from intuitivus_flow.kit.http.deps import DbSession
from intuitivus_flow.web.app_context import Context
from intuitivus_flow.web.auth import CurrentViewer
from intuitivus_flow.web.templating import render

router = APIRouter(include_in_schema=False)

MONTHS = 12


@router.get("/analytics/kpis")
async def kpis_page(
    request: Request, session: DbSession, viewer: CurrentViewer, context: Context
) -> Response:
    principal = viewer.principal
    today = datetime.now(UTC).date()
    workspace = await kpis_service.workspace_report(session, principal, last=today, months=MONTHS)
    platform = None
    try:
        await require_operator(session, principal, context.settings, scope=Scope.operations_read)
    except FlowError:
        pass  # not an operator: the workspace's KPIs only
    else:
        platform = await kpis_service.compute_platform_report(session, last=today, months=MONTHS)
    goals = await goals_service.list_goals(session, principal, context.settings)
    page = {
        "viewer": viewer,
        "workspace_panels": kpi_views.workspace_panels(workspace),
        "workspace_months": workspace.months,
        "platform": platform,
        "platform_panels": kpi_views.platform_panels(platform) if platform else [],
        "goals": [
            {
                "goal": goal,
                "panel": kpi_views.goal_panel(goal),
                "unit": kpi_views.LABELS[goal.kpi][1],
            }
            for goal in goals
        ],
        "show": kpi_views.show,
        "platform_level": Level.platform,
    }
    return render(request, "analytics_kpis.html", page)


@router.get("/analytics/contacts")
async def contacts_clv_page(
    request: Request, session: DbSession, viewer: CurrentViewer, horizon: int = 12
) -> Response:
    horizon = min(max(horizon, 1), 104)
    result = await kpis_service.contacts_clv(session, viewer.principal, horizon_weeks=horizon)
    page = {
        "viewer": viewer,
        "result": result,
        "horizon": horizon,
        "rows": result.predictions[:200],
    }
    return render(request, "analytics_contacts.html", page)
