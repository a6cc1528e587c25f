"""`GET /api/metrics/{name}/series`: one signal of the metric history, downsampled."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from intuitivus_flow.identity.requirements import checked_by_operator_access
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.http.deps import DbSession
from intuitivus_flow.metrics_history import service
from intuitivus_flow.metrics_history.operator_guard import OperatorReader
from intuitivus_flow.metrics_history.schemas import Series

router = APIRouter(prefix="/api/metrics", tags=["operations"])


@router.get(
    "/{name}/series",
    dependencies=[checked_by_operator_access(Scope.operations_read)],
    response_model=Series,
    summary="A signal over a time range",
)
async def get_series(
    name: str,
    session: DbSession,
    _: OperatorReader,
    start: Annotated[datetime | None, Query(description="UTC; default: end - 1 h.")] = None,
    end: Annotated[datetime | None, Query(description="UTC; default: now.")] = None,
    step: Annotated[
        int | None, Query(description="Bucket width in seconds; default: ~240 points.")
    ] = None,
    instance: Annotated[str | None, Query(max_length=128)] = None,
) -> Series:
    """The samples of `name` between `start` and `end`, averaged (and maximised) per `step`.

    Names are the metric-history signals (`response_time_p95_ms`, `error_rate_ratio`, ...).
    The instance's operators or the metrics token. An unknown name, an inverted or too long
    range, or a step giving more than 2000 points is a 422 problem.
    """
    service.check_signal(name)
    query = service.resolve_query(now=datetime.now(UTC), start=start, end=end, step=step)
    return await service.get_series(session, name, query, instance=instance)
