"""Read a server-sent event stream from an ASGI app in process.

httpx's ASGITransport returns a response only once the app has finished, so a stream that
never ends cannot be read through it; this drives the app directly and hands over each
event as it is sent, and disconnects like a browser closing the tab.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx
from fastapi import FastAPI


@dataclass
class Event:
    name: str
    data: dict[str, Any]


@dataclass
class EventStream:
    app: FastAPI
    path: str
    cookies: httpx.Cookies
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    _buffer: str = ""
    _chunks: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    _started: asyncio.Event = field(default_factory=asyncio.Event)
    _gone: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> EventStream:
        cookie = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": self.path,
            "raw_path": self.path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"testserver"),
                (b"cookie", cookie.encode()),
                (b"accept", b"text/event-stream"),
            ],
            "client": ("127.0.0.1", 40000),
            "server": ("testserver", 80),
        }
        asked = False

        async def receive() -> dict[str, Any]:
            nonlocal asked
            if not asked:
                asked = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await self._gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]
                self.headers = {k.decode(): v.decode() for k, v in message["headers"]}
                self._started.set()
            elif message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                if self.status != 200:
                    self.body += chunk
                elif chunk:
                    await self._chunks.put(chunk)

        self._task = asyncio.create_task(self.app(scope, receive, send))
        await asyncio.wait_for(self._started.wait(), 10)
        if self.status != 200:
            await asyncio.wait_for(self._task, 10)
        return self

    async def next_event(self, seconds: float = 15.0) -> Event:
        """The next named event (heartbeat comments and the retry hint are skipped)."""
        async with asyncio.timeout(seconds):
            while True:
                while "\n\n" in self._buffer:
                    block, self._buffer = self._buffer.split("\n\n", 1)
                    fields = dict(
                        line.split(": ", 1) for line in block.splitlines() if ": " in line
                    )
                    if "event" in fields:
                        return Event(fields["event"], json.loads(fields.get("data", "{}")))
                self._buffer += (await self._chunks.get()).decode()

    async def text_until_heartbeat(self, seconds: float = 15.0) -> str:
        """Everything sent up to and including the next heartbeat comment."""
        async with asyncio.timeout(seconds):
            while ": heartbeat" not in self._buffer:
                self._buffer += (await self._chunks.get()).decode()
        seen, self._buffer = self._buffer, ""
        return seen

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._gone.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, 10)
