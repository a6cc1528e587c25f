"""HTTP metrics as pure ASGI middleware: duration, requests in flight, responses by status.

The `route` label is the matched route's template (`/api/workspace/members/{member_id}`), never
the raw path, and `unmatched` when no route matched: a scanner probing random URLs must not be
able to create a time series per URL.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from intuitivus_flow.observability.metrics import FlowMetrics

UNMATCHED_ROUTE = "unmatched"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: FlowMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets if the app raises before answering
        started = time.perf_counter()

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        self.metrics.http_requests_in_flight.inc()
        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            self.metrics.http_requests_in_flight.dec()
            self._observe(scope, status, time.perf_counter() - started)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        labels = {
            "method": method_label(scope),
            "route": route_template(scope),
            "status_class": status_class(status),
        }
        self.metrics.http_request_duration_seconds.labels(**labels).observe(seconds)
        self.metrics.http_responses_total.labels(status=str(status)).inc()


def route_template(scope: Scope) -> str:
    """The template of the route the router matched (it records it in the shared scope)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str) and path:
        return path
    return _plain_route_path(scope) or UNMATCHED_ROUTE


def _plain_route_path(scope: Scope) -> str | None:
    """The path of a plain Starlette route the app holds itself (`/openapi.json`, `/docs`).

    FastAPI records only its own API routes in the scope; a plain route leaves just its
    endpoint there. Without this the API documentation counted as `unmatched`, and the latency
    SLO could not leave it out (observability/latency_slo.py).
    """
    endpoint = scope.get("endpoint")
    if endpoint is None:
        return None
    for candidate in getattr(scope.get("app"), "routes", ()):
        if isinstance(candidate, Route) and candidate.endpoint is endpoint:
            return candidate.path
    return None


def method_label(scope: Scope) -> str:
    method = str(scope.get("method", "")).upper()
    return method if method in KNOWN_METHODS else "other"


def status_class(status: int) -> str:
    return f"{min(max(status // 100, 1), 5)}xx"
