"""A local HTTP server speaking the WhatsApp Cloud (Graph) API's send-message wire format.

It checks what the Graph API checks (bearer token, `messaging_product`, `to`, a body for the
message type) and answers like it: `{"messaging_product", "contacts": [{"input", "wa_id"}],
"messages": [{"id": "wamid..."}]}`, or a Graph error object. Modes make it fail on demand.

`GET /{version}/{phone_number_id}` answers like the Graph API's phone-number node: the number
for a token of the business that owns it, Meta's "(#100) ... missing permissions" error for
any other token. `owners` names the token that owns a number; numbers not listed there are
readable by every token (so tests that connect a number need not declare it).
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ACCESS_TOKEN = "EAAG-test-access-token"


@dataclass
class GraphState:
    mode: str = "ok"  # ok | error500 | error400 | garbage
    sent: list[tuple[str, str, dict[str, Any]]] = field(
        default_factory=list
    )  # version, number, body
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    owners: dict[str, str] = field(default_factory=dict)  # phone_number_id -> owning token
    reads: list[str] = field(default_factory=list)  # numbers asked about

    def bodies(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [body for _, _, body in self.sent if kind is None or body.get("type") == kind]


def _graph_error(status: int, message: str, code: int) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "x"}},
        status,
    )


def build_app(state: GraphState) -> Starlette:
    async def messages(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {ACCESS_TOKEN}":
            return _graph_error(401, "Invalid OAuth access token", 190)
        body = await request.json()
        if body.get("messaging_product") != "whatsapp" or not body.get("to"):
            return _graph_error(400, "(#100) Invalid parameter", 100)
        kind = body.get("type")
        if kind not in body or (kind == "text" and not body["text"].get("body")):
            return _graph_error(400, "(#100) The parameter is required", 100)
        if kind == "template" and not body["template"].get("language", {}).get("code"):
            return _graph_error(400, "(#132000) Template language missing", 132000)
        if state.mode == "error500":
            return _graph_error(500, "An unexpected error has occurred", 2)
        if state.mode == "error400":
            return _graph_error(400, "Re-engagement message", 131047)
        if state.mode == "garbage":
            return JSONResponse({"unexpected": True})
        state.sent.append((request.path_params["version"], request.path_params["number"], body))
        wamid = f"wamid.OUT{next(state.counter):06d}"
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                "messages": [{"id": wamid}],
            }
        )

    async def number(request: Request) -> Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        phone_number_id = request.path_params["number"]
        state.reads.append(phone_number_id)
        if not token:
            return _graph_error(401, "An access token is required", 190)
        if state.mode == "error500":
            return _graph_error(500, "An unexpected error has occurred", 2)
        owner = state.owners.get(phone_number_id)
        if owner is not None and owner != token:
            return _graph_error(
                400,
                f"Unsupported get request. Object with ID '{phone_number_id}' does not exist, "
                "cannot be loaded due to missing permissions, or does not support this "
                "operation.",
                100,
            )
        return JSONResponse(
            {
                "verified_name": "Acme Support",
                "code_verification_status": "VERIFIED",
                "display_phone_number": "+1 555-010-0000",
                "quality_rating": "GREEN",
                "platform_type": "CLOUD_API",
                "id": phone_number_id,
            }
        )

    return Starlette(
        routes=[
            Route("/{version}/{number}/messages", messages, methods=["POST"]),
            Route("/{version}/{number}", number, methods=["GET"]),
        ]
    )


@dataclass
class RunningGraph:
    url: str
    state: GraphState


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_graph() -> Iterator[RunningGraph]:
    """Run the fake Graph API in a thread on a loopback port for a fixture's duration."""
    state = GraphState()
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            build_app(state), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("graph server did not start")
        time.sleep(0.02)
    try:
        yield RunningGraph(f"http://127.0.0.1:{port}", state)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
