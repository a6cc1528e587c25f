"""The server-rendered web shell: static files, pages and the web-only error handlers."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response

from intuitivus_flow.context import AppContext
from intuitivus_flow.web.account_pages import router as account_router
from intuitivus_flow.web.agent_pages import router as agent_router
from intuitivus_flow.web.analytics_event_pages import router as analytics_event_router
from intuitivus_flow.web.analytics_kpi_pages import router as analytics_kpi_router
from intuitivus_flow.web.api_docs import install_api_docs
from intuitivus_flow.web.auth import (
    SESSION_COOKIE,
    SignInRequired,
    clear_session_cookie,
    signin_url,
)
from intuitivus_flow.web.billing_pages import router as billing_router
from intuitivus_flow.web.campaign_pages import router as campaign_router
from intuitivus_flow.web.channel_pages import router as channel_router
from intuitivus_flow.web.contact_pages import router as contact_router
from intuitivus_flow.web.conversation_pages import router as conversation_router
from intuitivus_flow.web.cookies import read_cookie
from intuitivus_flow.web.crew_pages import router as crew_router
from intuitivus_flow.web.csrf import CsrfRejected
from intuitivus_flow.web.dashboard_pages import router as dashboard_router
from intuitivus_flow.web.data_pages import router as data_router
from intuitivus_flow.web.forecast_pages import router as forecast_router
from intuitivus_flow.web.operations_pages import router as operations_router
from intuitivus_flow.web.performance_pages import router as performance_router
from intuitivus_flow.web.static_files import CachedStaticFiles
from intuitivus_flow.web.templating import STATIC_DIR, redirect, render
from intuitivus_flow.web.workspace_pages import router as workspace_router


async def _redirect_to_signin(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    response = redirect(signin_url(exc.next_path))
    context: AppContext = request.app.state.context
    if read_cookie(request, context.settings, SESSION_COOKIE) is not None:  # expired or revoked
        clear_session_cookie(response, context)
    return response


async def _csrf_rejected(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CsrfRejected)
    return render(
        request,
        "error.html",
        {
            "title": "This form has expired",
            "message": (
                "For your security the form could not be accepted. Go back, reload the page "
                "and send it again."
            ),
        },
        status_code=403,
    )


async def _favicon() -> FileResponse:
    # Browsers ask for /favicon.ico whatever the page links; a 404 costs Lighthouse points.
    return FileResponse(
        STATIC_DIR / "favicon.ico",
        media_type="image/x-icon",
        headers={"Cache-Control": "public, max-age=86400"},
    )


def install_web(app: FastAPI) -> None:
    app.mount("/static", CachedStaticFiles(directory=STATIC_DIR), name="static")
    app.add_api_route("/favicon.ico", _favicon, methods=["GET"], include_in_schema=False)
    install_api_docs(app)
    app.include_router(account_router)
    app.include_router(workspace_router)
    app.include_router(agent_router)
    app.include_router(crew_router)
    app.include_router(campaign_router)
    app.include_router(contact_router)  # before /contacts/{id}/... of conversation_pages
    app.include_router(conversation_router)
    app.include_router(channel_router)
    app.include_router(dashboard_router)
    app.include_router(operations_router)
    app.include_router(forecast_router)
    app.include_router(analytics_kpi_router)
    app.include_router(analytics_event_router)
    app.include_router(performance_router)
    app.include_router(billing_router)
    app.include_router(data_router)
    app.add_exception_handler(SignInRequired, _redirect_to_signin)
    app.add_exception_handler(CsrfRejected, _csrf_rejected)
