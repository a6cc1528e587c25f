"""CORS decided per request, for routes whose allowed origins are data (a web-chat widget's own
list) rather than the instance's settings.

The route's own code decides (a dependency that looked the origin up calls `allow_origin`);
`PerRequestCorsRoute` then puts the permission on whatever response leaves the route, error
problems included (a 429 or 422 the page's script must be able to read). A request nobody
allowed gets no permission at all, whatever it answered. Every response says `Vary: Origin`,
so no cache hands one site's permission to another.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.datastructures import MutableHeaders
from starlette.types import Message, Receive, Scope, Send

_STATE_KEY = "cors_allowed_origin"
# Read by the widget on a 429; not one of the response headers CORS exposes by default.
EXPOSED_HEADERS = "Retry-After"


def allow_origin(request: Request, origin: str) -> None:
    """Let the page of `origin` read this request's response."""
    request.state.cors_allowed_origin = origin


def allowed_origin(scope: Scope) -> str | None:
    state: MutableMapping[str, Any] = scope.get("state", {})
    origin = state.get(_STATE_KEY)
    return origin if isinstance(origin, str) else None


class PerRequestCorsRoute(APIRoute):
    """An API route whose responses carry the CORS permission its dependencies granted."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.add_vary_header("Origin")
                if origin := allowed_origin(scope):
                    headers["Access-Control-Allow-Origin"] = origin
                    headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            await send(message)

        await super().handle(scope, receive, send_with_cors)
