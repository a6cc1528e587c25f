"""The app served by a real Uvicorn on a loopback port, in a thread with its own event loop.

Schemathesis calls the API synchronously over HTTP; serving the app for real (rather than through
Starlette's TestClient, which starts a new event loop per call) keeps the app's connection pools
on one loop and exercises keep-alive connections the way clients use them.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _serve_then_close(server: uvicorn.Server, app: FastAPI) -> None:
    try:
        await server.serve()
    finally:
        # The context's pools live on this thread's loop: close them here, before it ends.
        await app.state.context.close()


@contextmanager
def serve(app: FastAPI, *, start_timeout: float = 20.0) -> Iterator[str]:
    """Serve `app` until the block ends; yields its base URL. No lifespan: like the other API
    tests, the fuzzer exercises requests, not the background operations loops."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=asyncio.run, args=(_serve_then_close(server, app),), daemon=True
    )
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the app did not start under uvicorn")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
