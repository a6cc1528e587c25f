"""`GET /metrics` in the Prometheus text format."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from intuitivus_flow.kit.errors import Forbidden
from intuitivus_flow.kit.http.openapi import route_errors
from intuitivus_flow.observability.metrics import collect_registry
from intuitivus_flow.observability.metrics_guard import MetricsAccess

if TYPE_CHECKING:
    from intuitivus_flow.observability.install import Observability

# The classic text format: every Prometheus 2.x parses it (Debian 12 ships 2.42), and our
# metric names need none of the newer format's UTF-8 escaping.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    # The empty requirement: without FLOW_METRICS_TOKEN the scrape needs no credential.
    openapi_extra={**route_errors(Forbidden), "security": [{}]},
    summary="Prometheus metrics",
    dependencies=[MetricsAccess],
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}}},
)
async def metrics(request: Request) -> Response:
    """Every metric of the service (all workers combined) for a Prometheus scrape. Guarded by
    `FLOW_METRICS_TOKEN` and `FLOW_METRICS_ALLOWED_NETWORKS` when they are set."""
    observability: Observability = request.app.state.observability
    await observability.runtime.refresh()
    body = generate_latest(collect_registry(observability.metrics.registry))
    return Response(body, media_type=CONTENT_TYPE)
