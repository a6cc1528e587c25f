"""A stand-in for the WhatsApp Cloud (Graph) API on a loopback port, for the embedded server.

Connecting a number makes the server read it at the Graph API (proof of ownership), and the
agents' replies to webhook messages are sent there. Pointing `FLOW_WHATSAPP_GRAPH_URL` here
keeps the whole run on this machine: it confirms any number for any token and accepts every
message with a fresh `wamid`, as Meta would.
"""

from __future__ import annotations

import itertools
import threading
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from loadtests.common.net import free_port


def _app() -> Starlette:
    counter = itertools.count(1)

    async def read_number(request: Request) -> JSONResponse:
        number = request.path_params["number"]
        return JSONResponse(
            {
                "verified_name": "Load Test",
                "display_phone_number": "+1 555-010-0000",
                "quality_rating": "GREEN",
                "id": number,
            }
        )

    async def send(request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": body.get("to"), "wa_id": body.get("to")}],
                "messages": [{"id": f"wamid.LOADOUT{next(counter):08d}"}],
            }
        )

    return Starlette(
        routes=[
            Route("/{version}/{number}/messages", send, methods=["POST"]),
            Route("/{version}/{number}", read_number, methods=["GET"]),
        ]
    )


class FakeGraph:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(
            uvicorn.Config(
                _app(), host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
            )
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> FakeGraph:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake Graph API did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
