"""The app behind a real HTTP server (uvicorn, as in production) for tests that need one:
keep-alive connections, an event loop shared with other requests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn


@asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    """Serve `app` on a free local port from this event loop; yield its base URL."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="off", log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()  # raises why it could not start
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


def client_address(response: httpx.Response) -> tuple[str, int]:
    """The local end of the connection that carried `response` (same address: same
    connection)."""
    address: tuple[str, int] = response.extensions["network_stream"].get_extra_info("client_addr")
    return address
