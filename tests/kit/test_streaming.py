"""Streamed downloads: a failure before the first byte is a problem response, not a 200 with
a truncated body (kit/http/streaming.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from sqlalchemy.exc import TimeoutError as PoolTimeout

from intuitivus_flow.kit.http.problems import install_problem_handlers
from intuitivus_flow.kit.http.streaming import FirstChunkFirst


async def _pool_times_out() -> AsyncIterator[bytes]:
    raise PoolTimeout("QueuePool limit of size 10 overflow 5 reached")
    yield b""  # an async generator: the failure comes when the first chunk is asked for


async def _chunks(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/fails-before-the-first-chunk")
    async def fails() -> FirstChunkFirst:
        return FirstChunkFirst(_pool_times_out(), media_type="text/csv")

    @app.get("/streams")
    async def streams() -> FirstChunkFirst:
        return FirstChunkFirst(_chunks(b"phone\n", b"+5511\n", b"+5512\n"), media_type="text/csv")

    @app.get("/empty")
    async def empty() -> FirstChunkFirst:
        return FirstChunkFirst(_chunks(), media_type="text/csv")

    return app


async def _get(path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path)


async def test_a_database_that_does_not_answer_before_the_first_chunk_is_a_503() -> None:
    response = await _get("/fails-before-the-first-chunk")

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"]
    assert "phone" not in response.text


async def test_every_chunk_is_sent_in_order() -> None:
    response = await _get("/streams")

    assert response.status_code == 200
    assert response.text == "phone\n+5511\n+5512\n"
    assert response.headers["content-type"].startswith("text/csv")


async def test_an_empty_body_is_an_empty_download() -> None:
    response = await _get("/empty")

    assert response.status_code == 200
    assert response.content == b""
