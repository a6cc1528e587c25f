"""The ASGI application: routers, middleware and error handlers wired to one `AppContext`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from intuitivus_flow import __version__
from intuitivus_flow.agents.endpoints import router as agents_router
from intuitivus_flow.alerts.endpoints import router as alerts_router
from intuitivus_flow.analytics.endpoints import COLLECT_PATHS as ANALYTICS_COLLECT_PATHS
from intuitivus_flow.analytics.endpoints import collect_router as analytics_collect_router
from intuitivus_flow.analytics.endpoints import router as analytics_events_router
from intuitivus_flow.analytics.kpi_endpoints import router as analytics_kpis_router
from intuitivus_flow.apikeys.endpoints import router as api_keys_router
from intuitivus_flow.auth.deps import request_authenticator
from intuitivus_flow.auth.endpoints import router as auth_router
from intuitivus_flow.auth.operators import require_operator
from intuitivus_flow.billing.endpoints import router as billing_router
from intuitivus_flow.campaigns.endpoints import router as campaigns_router
from intuitivus_flow.config import Settings, get_settings
from intuitivus_flow.contacts import IMPORT_MAX_REQUEST_BYTES as CONTACT_IMPORT_MAX_BYTES
from intuitivus_flow.contacts import IMPORT_PATHS as CONTACT_IMPORT_PATHS
from intuitivus_flow.contacts.endpoints import router as contacts_router
from intuitivus_flow.context import AppContext
from intuitivus_flow.conversations.endpoints import channels_router, webchat_router
from intuitivus_flow.conversations.endpoints import router as conversations_router
from intuitivus_flow.dashboard.endpoints import router as dashboard_router
from intuitivus_flow.dataport import IMPORT_PATHS
from intuitivus_flow.dataport.endpoints import router as data_router
from intuitivus_flow.events.endpoints import router as events_router
from intuitivus_flow.forecasting.endpoints import router as forecasting_router
from intuitivus_flow.health.endpoints import router as health_router
from intuitivus_flow.jobs.models import QUEUES
from intuitivus_flow.jobs.service import queue_stats
from intuitivus_flow.kit.heap import freeze_startup_heap
from intuitivus_flow.kit.http.compression import TextCompressionMiddleware
from intuitivus_flow.kit.http.cors import InstanceCorsMiddleware
from intuitivus_flow.kit.http.middleware import (
    BodySizeLimitMiddleware,
    RejectBadInputMiddleware,
    RequestContextMiddleware,
)
from intuitivus_flow.kit.http.openapi import install_openapi, operation_id
from intuitivus_flow.kit.http.problems import install_problem_handlers
from intuitivus_flow.llm.endpoints import router as llm_router
from intuitivus_flow.metrics_history.endpoints import router as metrics_history_router
from intuitivus_flow.observability.collectors import QueueProbe
from intuitivus_flow.observability.install import Telemetry, install_observability
from intuitivus_flow.operations import start_operations
from intuitivus_flow.task_registry import embedded_worker
from intuitivus_flow.users.endpoints import router as members_router
from intuitivus_flow.web.endpoints import install_web
from intuitivus_flow.workspaces.endpoints import router as workspace_router

API_DESCRIPTION = """
Intuitivus Flow Studio: AI agents and marketing-campaign automation.

Authenticate with `Authorization: Bearer <access token>` (from `/api/auth/login`) or with an
API key (`Authorization: Bearer ifk_...` or `X-API-Key: ifk_...`). Errors are
`application/problem+json` documents with a stable `type`.
"""


def create_app(settings: Settings | None = None, *, telemetry: Telemetry | None = None) -> FastAPI:
    """The app for `settings` (default: from the environment). `telemetry` replaces the
    process-wide metrics registry and tracer provider (tests use isolated ones)."""
    settings = settings or get_settings()
    context = AppContext.build(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            app.state.observability.running(),
            # Sampler, alert evaluator, notifications and metric partitions (issue 5, part C).
            start_operations(context, registry=app.state.observability.metrics.registry),
            embedded_worker(context),
        ):
            if settings.gc_freeze:
                freeze_startup_heap()
            yield
        await context.close()

    app = FastAPI(
        title="Intuitivus Flow Studio",
        version=__version__,
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc come from web/api_docs.py, with local assets
        redoc_url=None,
        generate_unique_id_function=operation_id,  # `{tag}:{name}`, e.g. `campaigns:list`
    )
    app.state.context = context
    # identity.http.CurrentPrincipal asks this port; auth answers it (identity sits below auth).
    app.state.authenticate = request_authenticator(context)
    # observability's /metrics and /api/ops guards ask auth who operates this instance.
    app.state.require_operator = require_operator
    install_problem_handlers(app)
    install_openapi(app)  # the contract: operationIds, problems, scopes (kit/http/openapi.py)
    # The router tries routes in this order until one matches (about a quarter of a cached
    # request's CPU when the dashboard came 15th), so the hottest paths come first.
    for router in (
        health_router,
        auth_router,
        dashboard_router,
        workspace_router,
        members_router,
        api_keys_router,
        events_router,
        llm_router,
        agents_router,
        contacts_router,
        conversations_router,
        channels_router,
        webchat_router,
        billing_router,
        campaigns_router,
        data_router,
        metrics_history_router,
        alerts_router,
        forecasting_router,
        analytics_kpis_router,
        analytics_events_router,
        analytics_collect_router,
    ):
        app.include_router(router)
    install_web(app)
    if settings.cors_origins:
        app.add_middleware(
            InstanceCorsMiddleware,
            # Each web-chat widget and each analytics write key has its own allowed origins.
            exempt_prefixes=(webchat_router.prefix + "/", *ANALYTICS_COLLECT_PATHS),
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key", "X-Request-ID"],
        )
    if settings.http_compression:  # innermost: the metrics time the compressing too
        app.add_middleware(TextCompressionMiddleware)
    app.add_middleware(RejectBadInputMiddleware)  # inside the size limit: it holds bodies
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_request_bytes,
        path_limits={
            **dict.fromkeys(IMPORT_PATHS, settings.import_max_bytes),
            **dict.fromkeys(CONTACT_IMPORT_PATHS, CONTACT_IMPORT_MAX_BYTES),
        },
    )
    install_observability(app, context, telemetry, queues=QueueProbe(QUEUES, queue_stats))
    app.add_middleware(RequestContextMiddleware)  # outermost: every log line gets the request id
    return app
