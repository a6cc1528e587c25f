"""`GET /api/metrics/{name}/forecast` and `GET /api/predictive/models`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Query

from intuitivus_flow.alerts.rules import configured_rules, parse_duration
from intuitivus_flow.forecasting import service, views
from intuitivus_flow.forecasting.options import ForecastOptions
from intuitivus_flow.forecasting.schemas import Forecast, ModelState
from intuitivus_flow.identity.requirements import checked_by_operator_access
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import InvalidInput
from intuitivus_flow.kit.http.deps import Context, DbSession
from intuitivus_flow.metrics_history.operator_guard import OperatorReader

router = APIRouter(tags=["operations"])


def _duration(value: str, field: str) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise InvalidInput(str(exc), field=field) from None


@router.get(
    "/api/metrics/{name}/forecast",
    dependencies=[checked_by_operator_access(Scope.operations_read)],
    response_model=Forecast,
    summary="A signal's history, forecast, anomalies and threshold",
)
async def get_forecast(
    name: str,
    session: DbSession,
    context: Context,
    _: OperatorReader,
    horizon: str = Query("6h", description="How far ahead, e.g. 30m, 6h, 2d (at most 7d)."),
    range: str = Query("24h", description="History shown, e.g. 6h, 24h, 7d."),
) -> Forecast:
    """The signal per model step (mean across instances) over `range`, the trend forecast over
    `horizon` with its 80 % band, the steps the model flagged as anomalies, the threshold of
    the signal's forecast_breach (else threshold) rule with the predicted crossing, and the
    model's state. While the model is in cold start or failed, only the history is filled.
    The instance's operators or the metrics token; an unknown signal or a bad duration is a
    422 problem.
    """
    return await views.forecast(
        session,
        name,
        horizon=_duration(horizon, "horizon"),
        span=_duration(range, "range"),
        now=datetime.now(UTC),
        rules=configured_rules(context.settings),
        options=ForecastOptions.from_settings(context.settings),
    )


@router.get(
    "/api/predictive/models",
    dependencies=[checked_by_operator_access(Scope.operations_read)],
    response_model=list[ModelState],
    summary="Predictive model states",
)
async def list_models(session: DbSession, context: Context, _: OperatorReader) -> list[ModelState]:
    """Every model with its status (cold_start, training, ready, failed), last fit, history
    used, why it was last trained (initial, schedule, drift, retry), drift score and error."""
    options = ForecastOptions.from_settings(context.settings)
    return [views.model_state(model, options) for model in await service.list_models(session)]
