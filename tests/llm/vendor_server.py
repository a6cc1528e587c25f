"""A local HTTP server that speaks the LLM vendors' wire formats, for adapter tests.

It checks what a real vendor would check (auth header, required fields) and can be told to
fail the way vendors fail: 5xx, 429 quota, slow answers, garbage.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

API_KEY = "sk-test-vendor-key"


@dataclass
class VendorState:
    # mode per vendor: ok | error500 | quota429 | slow | garbage | overloaded529 | redirect
    modes: dict[str, str] = field(default_factory=dict)
    redirect_to: str = "http://169.254.169.254/latest/meta-data/"
    # Replaces the OpenAI-format answer when set (a hostile or broken OpenAI-compatible server).
    openai_answer: Any = None
    requests: list[tuple[str, dict[str, Any], dict[str, str]]] = field(default_factory=list)

    def mode(self, vendor: str) -> str:
        return self.modes.get(vendor, "ok")


def _failure(mode: str) -> Response | None:
    if mode == "error500":
        return JSONResponse({"error": {"message": "internal", "type": "server_error"}}, 500)
    if mode == "overloaded529":
        return JSONResponse(
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, 529
        )
    if mode == "quota429":
        return JSONResponse(
            {"error": {"message": "You exceeded your current quota", "type": "insufficient_quota"}},
            429,
        )
    if mode == "garbage":
        return PlainTextResponse("<html>proxy error</html>", 200)
    return None


def build_app(state: VendorState) -> Starlette:
    async def openai(request: Request) -> Response:
        body = await request.json()
        state.requests.append(("openai", body, dict(request.headers)))
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return JSONResponse({"error": {"message": "Incorrect API key"}}, 401)
        if (failure := await _maybe_fail(state, "openai")) is not None:
            return failure
        if state.openai_answer is not None:
            return JSONResponse(state.openai_answer)
        last = body["messages"][-1]["content"]
        return JSONResponse(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": f"openai says: {last}"},
                    }
                ],
                "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
            }
        )

    async def anthropic(request: Request) -> Response:
        body = await request.json()
        state.requests.append(("anthropic", body, dict(request.headers)))
        if request.headers.get("x-api-key") != API_KEY or not request.headers.get(
            "anthropic-version"
        ):
            return JSONResponse(
                {
                    "type": "error",
                    "error": {"type": "authentication_error", "message": "invalid x-api-key"},
                },
                401,
            )
        if "max_tokens" not in body:
            return JSONResponse({"type": "error", "error": {"message": "max_tokens required"}}, 400)
        if (failure := await _maybe_fail(state, "anthropic")) is not None:
            return failure
        last = body["messages"][-1]["content"]
        return JSONResponse(
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [{"type": "text", "text": f"anthropic says: {last}"}],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": 13, "output_tokens": 5},
            }
        )

    async def google(request: Request) -> Response:
        body = await request.json()
        state.requests.append(("google", body, dict(request.headers)))
        if request.headers.get("x-goog-api-key") != API_KEY:
            return JSONResponse({"error": {"code": 403, "message": "API key not valid"}}, 403)
        if (failure := await _maybe_fail(state, "google")) is not None:
            return failure
        last = body["contents"][-1]["parts"][0]["text"]
        return JSONResponse(
            {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": [{"text": f"gemini says: {last}"}]},
                        "finishReason": "STOP",
                    }
                ],
                "usageMetadata": {
                    "promptTokenCount": 9,
                    "candidatesTokenCount": 4,
                    "totalTokenCount": 13,
                },
            }
        )

    return Starlette(
        routes=[
            Route("/v1/chat/completions", openai, methods=["POST"]),
            Route("/v1/messages", anthropic, methods=["POST"]),
            Route("/v1beta/models/{model_action:path}", google, methods=["POST"]),
        ]
    )


async def _maybe_fail(state: VendorState, vendor: str) -> Response | None:
    mode = state.mode(vendor)
    if mode == "slow":
        await asyncio.sleep(3)
    if mode == "redirect":
        return RedirectResponse(state.redirect_to, status_code=307)
    return _failure(mode)


@dataclass
class RunningVendor:
    url: str
    state: VendorState


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_vendor() -> Iterator[RunningVendor]:
    """Run the fake vendor in a thread on a loopback port for the duration of a fixture."""
    state = VendorState()
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
            raise RuntimeError("vendor server did not start")
        time.sleep(0.02)
    try:
        yield RunningVendor(f"http://127.0.0.1:{port}", state)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
