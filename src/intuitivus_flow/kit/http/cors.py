"""CORS decided per request, for routes whose allowed origins are data (a web-chat widget's own
list) rather than the instance's settings.

The route's own code decides (a dependency that looked the origin up calls `allow_origin`);
`PerRequestCorsRoute` then puts the permission on whatever response leaves the route, error
problems included (a 429 or 422 the page's script must be able to read). A request nobody
allowed gets no permission at all, whatever it answered. Every response says `Vary: Origin`,
so no cache hands one site's permission to another.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Annotated, Any

from fastapi import Header, Request, Response, status
from fastapi.routing import APIRoute
from starlette.datastructures import MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_STATE_KEY = "cors_allowed_origin"
# Read by the widget on a 429; not one of the response headers CORS exposes by default.
EXPOSED_HEADERS = "Retry-After"


# What a browser's preflight announces: the method and the request headers of the real call.
PreflightMethod = Annotated[
    str | None, Header(alias="Access-Control-Request-Method", max_length=32)
]
PreflightHeaders = Annotated[
    str | None, Header(alias="Access-Control-Request-Headers", max_length=500)
]


def granted_preflight(
    request: Request,
    origin: str,
    *,
    methods: Sequence[str],
    headers: Sequence[str],
    max_age_seconds: int,
) -> Response:
    """The 204 that lets `origin`'s page make the call, once the route has admitted it."""
    allow_origin(request, origin)
    return Response(
        status_code=status.HTTP_204_NO_CONTENT,
        headers={
            "Access-Control-Allow-Methods": ", ".join(methods),
            "Access-Control-Allow-Headers": ", ".join(headers),
            "Access-Control-Max-Age": str(max_age_seconds),
        },
    )


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


class InstanceCorsMiddleware(CORSMiddleware):
    """The instance's own CORS (`FLOW_CORS_ORIGINS`), leaving alone the paths that decide
    their own: Starlette's middleware would otherwise answer their preflights itself (400 for
    any origin not in the instance's list, such as a customer's site)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        exempt_prefixes: tuple[str, ...],
        allow_origins: Sequence[str],
        allow_methods: Sequence[str],
        allow_headers: Sequence[str],
    ) -> None:
        super().__init__(
            app,
            allow_origins=allow_origins,
            allow_methods=allow_methods,
            allow_headers=allow_headers,
        )
        self.exempt_prefixes = exempt_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.exempt_prefixes):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
