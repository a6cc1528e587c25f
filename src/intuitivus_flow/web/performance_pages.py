"""The Performance page (operators): the latest `perf analyze` of this server process, run on
demand, and the operator sign-in the CLI uses to fetch the app's pages.

The analysis runs here because the request metrics it ranks live in the serving process; the
page's own session cookie lets the web area fetch the pages as the operator sees them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from datetime import timedelta
from typing import Any

import httpx
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from prometheus_client.metrics_core import Metric
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.auth import service as auth
from intuitivus_flow.auth.operators import operator_workspace_ids, require_operator
from intuitivus_flow.config import Settings
from intuitivus_flow.identity.roles import Role
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.kit.errors import FlowError
from intuitivus_flow.kit.http.deps import DbSession
from intuitivus_flow.kit.security import TokenType
from intuitivus_flow.observability.metrics import collect_registry
from intuitivus_flow.performance.analyze import Instance, analyze
from intuitivus_flow.performance.requests import InjectedFault, RouteHistory
from intuitivus_flow.performance.views import PerformanceState, page_context
from intuitivus_flow.users.models import User
from intuitivus_flow.users.repository import MemberRepository
from intuitivus_flow.web import csrf
from intuitivus_flow.web.auth import SESSION_COOKIE, CurrentViewer, Viewer
from intuitivus_flow.web.cookies import cookie_name
from intuitivus_flow.web.forms import read_fields
from intuitivus_flow.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
WINDOWS = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(days=1),
}
DEFAULT_WINDOW = "1h"


def performance_state(app: FastAPI) -> PerformanceState:
    state: PerformanceState | None = getattr(app.state, "performance", None)
    if state is None:
        state = app.state.performance = PerformanceState()
    return state


def instance_for(
    app: FastAPI,
    *,
    pages: httpx.AsyncClient | None,
    signed_in: bool,
    routes: RouteHistory | None = None,
) -> Instance:
    """What the analysers read, from a built app (the page's own, or the CLI's)."""
    context = app.state.context
    observability = app.state.observability
    registry = observability.metrics.registry

    def metrics() -> Iterable[Metric]:
        return collect_registry(registry).collect()

    return Instance(
        engine=context.engine,
        redis=context.redis,
        metrics=metrics,
        flow_metrics=observability.metrics,
        pages=pages,
        signed_in=signed_in,
        routes=routes,
        fault=_injected_fault(app),
    )


def _injected_fault(app: FastAPI) -> InjectedFault | None:
    if not app.state.context.settings.fault_injection:
        return None
    plan = app.state.observability.faults.plan
    if plan is None or (plan.latency_ms == 0 and plan.error_rate == 0):
        return None
    return InjectedFault(plan.path_prefix, plan.latency_ms, plan.error_rate)


def page_client(app: FastAPI, cookies: dict[str, str] | None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost", cookies=cookies
    )


async def _operator(session: AsyncSession, settings: Settings) -> User | None:
    """The longest-standing active owner or admin of an operator workspace."""
    for workspace_id in sorted(await operator_workspace_ids(session, settings)):
        found = await MemberRepository(session, workspace_id).first(
            select(User)
            .where(User.active.is_(True), User.role.in_([Role.owner, Role.admin]))
            .order_by(User.created_at)
        )
        if found is not None:
            return found
    return None


@contextlib.asynccontextmanager
async def operator_pages(app: Any) -> AsyncIterator[httpx.AsyncClient | None]:
    """A client of `app` signed in as an operator (a web session opened for the run and
    closed after it); anonymous when the instance has no operator yet."""
    context = app.state.context
    async with unit_of_work(context.sessions) as session:
        user = await _operator(session, context.settings)
        token = await auth.open_web_session(session, user, policy=context.auth) if user else None
    cookies = {cookie_name(SESSION_COOKIE, context.settings): token} if token else None
    try:
        async with page_client(app, cookies) as client:
            yield client
    finally:
        if token is not None:
            async with unit_of_work(context.sessions) as session:
                principal = await auth.principal_from_token(
                    session, token, kind=TokenType.web, policy=context.auth
                )
                await auth.logout(session, principal)


async def _refusal(
    request: Request, session: AsyncSession, viewer: Viewer, scope: Scope
) -> Response | None:
    settings = request.app.state.context.settings
    try:
        await require_operator(session, viewer.principal, settings, scope=scope)
    except FlowError:
        message = "Performance analysis is available to the operators of this instance."
        context = {"viewer": viewer, "title": "Not allowed", "message": message}
        return render(request, "error.html", context, status_code=403)
    return None


@router.get("/performance")
async def performance_page(
    request: Request, session: DbSession, viewer: CurrentViewer, window: str = DEFAULT_WINDOW
) -> Response:
    if refusal := await _refusal(request, session, viewer, Scope.operations_read):
        return refusal
    state = performance_state(request.app)
    chosen = window if window in WINDOWS else DEFAULT_WINDOW
    page = {"viewer": viewer, "windows": list(WINDOWS), "chosen": chosen}
    return render(request, "performance.html", {**page, **page_context(state.latest)})


@router.post("/performance/run", dependencies=[Depends(csrf.require_csrf)])
async def run_analysis(request: Request, session: DbSession, viewer: CurrentViewer) -> Response:
    if refusal := await _refusal(request, session, viewer, Scope.operations_read):
        return refusal
    values = await read_fields(request, ("window",))
    chosen = values["window"] if values["window"] in WINDOWS else DEFAULT_WINDOW
    # The operator's own session fetches the pages: the web area weighs what they see.
    settings = request.app.state.context.settings
    name = cookie_name(SESSION_COOKIE, settings)
    token = request.cookies.get(name)
    state = performance_state(request.app)
    async with state.lock, page_client(request.app, {name: token} if token else None) as pages:
        instance = instance_for(
            request.app, pages=pages, signed_in=token is not None, routes=state.routes
        )
        state.latest = await analyze(instance, window=WINDOWS[chosen])
    return redirect(f"/performance?window={chosen}")
