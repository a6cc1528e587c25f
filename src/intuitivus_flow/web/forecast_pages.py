"""The Forecasts page (owners and admins): one chart per signal a predictive rule watches.

Each chart shows the signal's history, the trend forecast with its 80 % band, the anomalies
its model flagged and the threshold line; a table lists every model's state.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.alerts.rules import RulesError, RuleSet, configured_rules, parse_duration
from intuitivus_flow.auth.operators import require_operator
from intuitivus_flow.forecasting import charts, service, views
from intuitivus_flow.forecasting.options import ForecastOptions
from intuitivus_flow.forecasting.schemas import Forecast
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit import chart_data
from intuitivus_flow.kit.errors import FlowError
from intuitivus_flow.kit.http.deps import DbSession
from intuitivus_flow.web.app_context import Context
from intuitivus_flow.web.auth import CurrentViewer, Viewer
from intuitivus_flow.web.templating import render

router = APIRouter(include_in_schema=False)

RANGES = ("6h", "24h", "7d")
DEFAULT_RANGE = "24h"
DEFAULT_HORIZON = "6h"


async def _refusal(request: Request, session: AsyncSession, viewer: Viewer) -> Response | None:
    """A 403 page for everyone but the instance's operators, as on the other operations
    pages."""
    settings = request.app.state.context.settings
    try:
        await require_operator(session, viewer.principal, settings, scope=Scope.operations_read)
    except FlowError:
        message = "Forecasts are available to the operators of this instance."
        context = {"viewer": viewer, "title": "Not allowed", "message": message}
        return render(request, "error.html", context, status_code=403)
    return None


def _signals(rules: RuleSet) -> list[tuple[str, str]]:
    """(signal, horizon) per watched signal: a forecast rule's horizon, else the default."""
    found: dict[str, str] = {}
    for rule in rules.predictive:
        horizon = DEFAULT_HORIZON
        if rule.horizon is not None:
            horizon = f"{int(rule.horizon.total_seconds())}s"
        if rule.horizon is not None or rule.signal not in found:
            found[rule.signal] = horizon
    return list(found.items())


@router.get("/forecasts")
async def forecasts_page(
    request: Request,
    session: DbSession,
    viewer: CurrentViewer,
    context: Context,
    range: str = DEFAULT_RANGE,
) -> Response:
    if refusal := await _refusal(request, session, viewer):
        return refusal
    chosen = range if range in RANGES else DEFAULT_RANGE
    options = ForecastOptions.from_settings(context.settings)
    try:
        rules = configured_rules(context.settings)
    except RulesError:  # an unusable rule file; the evaluator logs why
        rules = RuleSet()
    now = datetime.now(UTC)
    panels: list[dict[str, Any]] = []
    for signal, horizon in _signals(rules):
        forecast = await views.forecast(
            session,
            signal,
            horizon=parse_duration(horizon),
            span=min(parse_duration(chosen), options.history),
            now=now,
            rules=rules,
            options=options,
        )
        title = f"{signal} forecast"
        panels.append(
            {
                "forecast": forecast,
                "svg": charts.render(forecast, title=title),
                "title": title,
                "data": chart_data.time_chart(_forecast_chart(forecast, title)),
            }
        )
    models = [views.model_state(m, options) for m in await service.list_models(session)]
    page = {
        "viewer": viewer,
        "panels": panels,
        "models": models,
        "ranges": RANGES,
        "chosen": chosen,
    }
    return render(request, "forecasts.html", page)


def _forecast_chart(forecast: Forecast, title: str) -> chart_data.TimeChart:
    """The forecast as an interactive chart: history, the forecast line inside its 80 % band,
    anomalies as dots, the alert threshold and the predicted crossing as a vertical line."""
    series = [
        chart_data.Series("history", [(p.time, p.value) for p in forecast.history]),
        chart_data.Series(
            "forecast", [(p.time, p.value) for p in forecast.forecast], style="forecast"
        ),
        chart_data.Series(
            "anomaly", [(a.time, a.value) for a in forecast.anomalies], style="points"
        ),
    ]
    bands = []
    if forecast.forecast:
        bands.append(
            chart_data.Band(
                "80 % band",
                chart_data.Series("band low", [(p.time, p.lower) for p in forecast.forecast]),
                chart_data.Series("band high", [(p.time, p.upper) for p in forecast.forecast]),
            )
        )
    threshold = forecast.threshold
    markers = []
    if forecast.breach is not None:
        breach = forecast.breach
        markers.append(
            chart_data.Marker(
                "predicted crossing", breach.predicted_at, breach.earliest, breach.latest
            )
        )
    return chart_data.TimeChart(
        title=title,
        unit="",
        series=series,
        bands=bands,
        markers=markers,
        thresholds=(
            [(f"threshold {threshold.operator} {threshold.value:g}", threshold.value)]
            if threshold is not None
            else []
        ),
        empty="No samples in this period yet",
    )
