"""Gzip for the web UI's text responses (pages, stylesheets, scripts), not for the JSON API.

`perf analyze` measured the pages and `flow.css` sent uncompressed (the stylesheet alone 17 kB
where gzip sends 4 kB). Starlette's `GZipMiddleware` does the compressing; this wrapper keeps
it off the hot path: API and probe requests, and clients that do not accept gzip, pass
straight through without the per-request responder it would otherwise set up (the API's
bodies are small JSON; compressing them costs more CPU than the bytes it saves).
"""

from __future__ import annotations

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

# Smaller bodies fit a packet or two: compressing them saves nothing a client would notice.
MINIMUM_BYTES = 1024
# zlib's default: most of level 9's saving for a fraction of its CPU.
LEVEL = 6
UNCOMPRESSED_PREFIXES = ("/api/", "/metrics", "/health", "/ready")


class TextCompressionMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=MINIMUM_BYTES, compresslevel=LEVEL)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The path first: it settles every API and probe request without reading headers.
        if (
            scope["type"] != "http"
            or scope["path"].startswith(UNCOMPRESSED_PREFIXES)
            or not _wants_gzip(scope)
        ):
            await self.app(scope, receive, send)
            return
        await self.gzip(scope, receive, send)


def _wants_gzip(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"accept-encoding":
            return b"gzip" in value
    return False
