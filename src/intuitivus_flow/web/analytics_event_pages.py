"""The event-analysis pages: funnel builder, paths, retention heat table and the onboarding's
bottlenecks with their recommendations. Read-only pages driven by the query string (GET), so
they need no form tokens; every analysis runs in the analytics store in a worker thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup
from pydantic import ValidationError

from intuitivus_flow.analytics.funnels import run_funnel
from intuitivus_flow.analytics.journeys import find_bottlenecks, onboarding_funnel
from intuitivus_flow.analytics.paths import run_paths
from intuitivus_flow.analytics.retention import run_retention
from intuitivus_flow.analytics.schemas import (
    BottleneckQuery,
    FunnelQuery,
    PathQuery,
    RetentionCohort,
    RetentionQuery,
    RetentionResult,
    Transition,
)
from intuitivus_flow.analytics.store import AnalyticsStore, StoreError, open_store
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit import chart_data
from intuitivus_flow.kit.bar_chart import Bar, BarLayout, render_bars
from intuitivus_flow.web.app_context import Context
from intuitivus_flow.web.auth import CurrentViewer
from intuitivus_flow.web.forms import readable_message
from intuitivus_flow.web.templating import render

router = APIRouter(include_in_schema=False)
T = TypeVar("T")

DEFAULT_STEPS = ",".join(step.event for step in onboarding_funnel().steps)


async def _run(context: Any, work: Callable[[AnalyticsStore], T]) -> T:
    store = await asyncio.to_thread(open_store, context.settings.resolved_analytics_url)
    return await asyncio.to_thread(work, store)


def _problem(exc: ValidationError | StoreError) -> str:
    if isinstance(exc, StoreError):
        return exc.detail
    first = exc.errors(include_input=False, include_url=False)[0]
    message = readable_message(str(first["msg"]))
    field = ".".join(str(part) for part in first["loc"])
    return f"{field}: {message}" if field else message  # a whole-query rule names no field


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"


@router.get("/analytics/funnels")
async def funnels_page(
    request: Request,
    viewer: CurrentViewer,
    context: Context,
    steps: str = DEFAULT_STEPS,
    window_days: float = 14,
    order: str = "sequential",
    breakdown: str = "",
) -> Response:
    viewer.principal.require_scope(Scope.events_read)
    form = {"steps": steps, "window_days": window_days, "order": order, "breakdown": breakdown}
    page: dict[str, Any] = {"viewer": viewer, "form": form, "problem": None, "result": None}
    try:
        query = FunnelQuery.model_validate(
            {
                "steps": [{"event": s.strip()} for s in steps.split(",") if s.strip()],
                "window_seconds": max(1, int(window_days * 86400)),
                "order": order,
                "breakdown": breakdown.strip() or None,
            }
        )
        result = await _run(
            context, lambda st: run_funnel(st, viewer.principal.workspace_id, query)
        )
    except (ValidationError, StoreError) as exc:
        page["problem"] = _problem(exc)
    else:
        page["result"] = result
        page["conversion_chart"] = render_bars(
            "Conversion from step 1",
            [
                Bar(
                    s.label, s.conversion_from_first, f"{s.conversion_from_first:.1%} ({s.count:,})"
                )
                for s in result.steps
            ],
        )
        page["time_chart"] = render_bars(
            "Median time to convert from the previous step",
            [
                Bar(
                    s.label,
                    s.median_seconds_to_convert or 0.0,
                    _duration(s.median_seconds_to_convert),
                )
                for s in result.steps[1:]
            ],
        )
        page["duration"] = _duration
    return render(request, "analytics_funnels.html", page)


@router.get("/analytics/paths")
async def paths_page(
    request: Request,
    viewer: CurrentViewer,
    context: Context,
    start_event: str = "",
    end_event: str = "",
) -> Response:
    viewer.principal.require_scope(Scope.events_read)
    form = {"start_event": start_event, "end_event": end_event}
    page: dict[str, Any] = {"viewer": viewer, "form": form, "problem": None, "result": None}
    try:
        query = PathQuery.model_validate(
            {"start_event": start_event or None, "end_event": end_event or None, "limit": 40}
        )
        result = await _run(context, lambda st: run_paths(st, viewer.principal.workspace_id, query))
        page["result"] = result
        page["transition_chart"] = _transition_chart(result.transitions)
    except (ValidationError, StoreError) as exc:
        page["problem"] = _problem(exc)
    return render(request, "analytics_paths.html", page)


TRANSITION_BARS = 10


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


def _transition_chart(transitions: Sequence[Transition]) -> Markup:
    """The busiest moves of any step as bars (the table below lists them all, step by step)."""
    busiest = sorted(transitions, key=lambda t: (-t.sessions, t.step))[:TRANSITION_BARS]
    return render_bars(
        f"Top {len(busiest)} transitions by sessions",
        [
            Bar(
                f"{t.step}. {t.source} → {t.target}",
                t.sessions,
                _count(t.sessions, "session"),
                tone=t.step - 1,  # one colour per step
            )
            for t in busiest
        ],
        # Label and value share a line: 28 characters keep both inside a phone's width (the
        # SVG's <desc> and the table below have the whole names and the persons).
        BarLayout(label_chars=28, empty="No sessions yet."),
    )


@router.get("/analytics/retention")
async def retention_page(
    request: Request,
    viewer: CurrentViewer,
    context: Context,
    start_event: str = "user.signed_up",
    return_event: str = "",
    period: str = "week",
    kind: str = "first_time",
) -> Response:
    viewer.principal.require_scope(Scope.events_read)
    form = {
        "start_event": start_event,
        "return_event": return_event,
        "period": period,
        "kind": kind,
    }
    page: dict[str, Any] = {"viewer": viewer, "form": form, "problem": None, "result": None}
    try:
        query = RetentionQuery.model_validate(
            {
                "start_event": start_event,
                "return_event": return_event or None,
                "period": period,
                "kind": kind,
                "periods": 8,
            }
        )
        page["result"] = await _run(
            context, lambda st: run_retention(st, viewer.principal.workspace_id, query)
        )
    except (ValidationError, StoreError) as exc:
        page["problem"] = _problem(exc)
    # heat classes instead of inline colours (the CSP forbids inline styles)
    page["heat"] = lambda rate: f"heat-{min(int(rate * 10), 10)}"
    if page["result"] is not None:
        page["curve"] = retention_curve(page["result"], today=datetime.now(UTC).date())
    return render(request, "analytics_retention.html", page)


@router.get("/analytics/bottlenecks")
async def bottlenecks_page(request: Request, viewer: CurrentViewer, context: Context) -> Response:
    viewer.principal.require_scope(Scope.events_read)
    page: dict[str, Any] = {"viewer": viewer, "problem": None, "report": None}
    query = BottleneckQuery.model_validate(onboarding_funnel().model_dump())
    now = datetime.now(UTC)
    try:
        page["report"] = await _run(
            context, lambda st: find_bottlenecks(st, viewer.principal.workspace_id, query, now=now)
        )
    except StoreError as exc:
        page["problem"] = exc.detail
    page["duration"] = _duration
    return render(request, "analytics_bottlenecks.html", page)


def _period_start(cohort: date, period: str, offset: int) -> date:
    if period == "day":
        return cohort + timedelta(days=offset)
    if period == "week":
        return cohort + timedelta(weeks=offset)
    months = cohort.month - 1 + offset
    return date(cohort.year + months // 12, months % 12 + 1, 1)


def retention_curve(result: RetentionResult, *, today: date) -> dict[str, Any]:
    """Retention by period since the cohort started: all cohorts together (weighted by their
    size) and the four latest. A period that has not begun yet for a cohort is left out, not
    counted as 0 % (which would bend every curve down at its young end)."""
    width = max((len(c.rates) for c in result.cohorts), default=0)
    labels = [f"{result.period} {i}" for i in range(width)]

    def observed(cohort: RetentionCohort) -> list[float | None]:
        start = date.fromisoformat(cohort.cohort)
        return [
            rate * 100 if _period_start(start, result.period, i) <= today else None
            for i, rate in enumerate(cohort.rates)
        ]

    rows = [(c, observed(c)) for c in result.cohorts if c.size > 0]
    overall: list[float | None] = []
    for i in range(width):
        seen = [(c.size, rates[i]) for c, rates in rows if i < len(rates) and rates[i] is not None]
        people = sum(size for size, _ in seen)
        overall.append(sum(size * (r or 0.0) for size, r in seen) / people if people else None)
    series = [("all cohorts", overall)]
    series += [(f"from {c.cohort}", rates) for c, rates in rows[-4:]]
    return chart_data.category_chart(
        "Retention by period since the cohort started",
        "%",
        labels,
        series if rows else [],
        empty="No cohorts yet in this period",
        ceiling=100.0,
    )
