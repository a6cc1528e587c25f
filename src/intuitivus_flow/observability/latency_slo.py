"""Which requests the latency SLO covers, and how fast each must be (the operations contract).

The objective is about the requests people wait on: a page, an API answer. Most must finish
within `DEFAULT_THRESHOLD_SECONDS`. A few routes are slow by design or nobody waits on them,
and counting them against 0.5 s made a fresh install report -1150 % of its budget left after a
few sign-ins:

- routes that hash or verify a password: argon2id is deliberately slow (0.6-1.3 s on a busy
  2-core machine, `kit/security.py`), so they get `PASSWORD_HASHING_SECONDS`;
- the LLM completion proxy waits for the vendor's model, so it gets `LLM_COMPLETION_SECONDS`;
- the API documentation (built on first use), the Prometheus scrape (a machine) and the
  streamed data exports (their length is the data's size) are not covered at all.

The policy is keyed by route template (the `route` label of `flow_http_request_duration_seconds`,
every method of it), so the metric-history sampler and the exported Prometheus rules compute
the same thing from the same histogram. Every threshold is one of the histogram's buckets.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

DEFAULT_THRESHOLD_SECONDS = 0.5
PASSWORD_HASHING_SECONDS = 2.0
LLM_COMPLETION_SECONDS = 10.0

PASSWORD_HASHING_ROUTES = (
    "/api/auth/register",
    "/api/auth/login",
    "/api/auth/password",
    "/api/auth/invitations/accept",
    "/signin",
    "/signup",
    "/invite/{token}",
)

EXCLUDED_ROUTES = frozenset(
    {
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/metrics",
        "/api/data/export",
        "/data/export",
    }
)

# Routes with their own threshold; every other covered route uses the default.
ROUTE_THRESHOLDS: Mapping[str, float] = MappingProxyType(
    dict.fromkeys(PASSWORD_HASHING_ROUTES, PASSWORD_HASHING_SECONDS)
    | {"/api/llm/complete": LLM_COMPLETION_SECONDS}
)


def threshold_for(route: str) -> float | None:
    """Seconds within which a request to `route` is fast; None when the SLO ignores it."""
    if route in EXCLUDED_ROUTES:
        return None
    return ROUTE_THRESHOLDS.get(route, DEFAULT_THRESHOLD_SECONDS)


def routes_by_threshold() -> dict[float, tuple[str, ...]]:
    """The routes with their own threshold, grouped by it (for PromQL selectors)."""
    grouped: dict[float, list[str]] = {}
    for route, seconds in ROUTE_THRESHOLDS.items():
        grouped.setdefault(seconds, []).append(route)
    return {seconds: tuple(sorted(routes)) for seconds, routes in sorted(grouped.items())}
