"""Streamed downloads whose failures before the first byte are still answerable.

A `StreamingResponse` sends its status and headers, then asks its body for the first chunk:
whatever that first chunk needs (an export's own database session, its snapshot, the first
page) fails after a 200 is on the wire, and the client gets a truncated file with a success
status. Under load that was a pool timeout on `GET /api/data/export`: a 200 with no CSV in
it. `FirstChunkFirst` produces the first chunk before it sends anything, so such a failure
reaches the app's problem handlers (a 503 with Retry-After for a database that did not
answer); a failure later in the body still ends the connection mid-stream, which clients
see as an incomplete download.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send


class FirstChunkFirst(StreamingResponse):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks = aiter(self.body_iterator)
        try:
            first = await anext(chunks)
        except StopAsyncIteration:
            first = None
        self.body_iterator = _starting_with(first, chunks)
        await super().__call__(scope, receive, send)


async def _starting_with(
    first: str | bytes | memoryview | None, rest: AsyncIterator[str | bytes | memoryview]
) -> AsyncIterator[str | bytes | memoryview]:
    if first is None:
        return
    yield first
    async for chunk in rest:
        yield chunk
