"""The whole app context for the web UI's routes: it sits above the domains, so unlike an API
route it may read the domains' runtime state (the auth policy for cookies and CSRF)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from intuitivus_flow.context import AppContext


async def get_app_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


Context = Annotated[AppContext, Depends(get_app_context)]
