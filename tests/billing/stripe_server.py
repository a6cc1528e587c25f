"""A local HTTP server speaking Stripe's PaymentIntents wire format, for gateway tests.

It checks what Stripe checks (bearer secret key, form-encoded body, positive integer amount)
and honours `Idempotency-Key` the way Stripe does: the same key replays the first answer.
Test card methods behave like Stripe's: `pm_card_visa` succeeds, `pm_card_chargeDeclined`
fails with a 402 card error, `pm_card_threeDSecure2Required` needs action. `mode` makes it
fail like an outage (500) or answer garbage.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

API_KEY = "sk_test_fake_stripe_key"


@dataclass
class StripeState:
    mode: str = "ok"  # ok | error500 | garbage
    requests: list[dict[str, str]] = field(default_factory=list)
    idempotency_keys: list[str] = field(default_factory=list)
    replays: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    # Checkout Sessions by id; `pay`, `expire` play the payer on Stripe's page and time.
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def pay(self, session_id: str) -> None:
        self.sessions[session_id] |= {"status": "complete", "payment_status": "paid", "url": None}

    def expire(self, session_id: str) -> None:
        self.sessions[session_id] |= {"status": "expired", "url": None}


def _error(status: int, kind: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message, **extra}}, status)


def _intent(form: dict[str, str], status: str) -> dict[str, Any]:
    return {
        "id": f"pi_{uuid.uuid4().hex[:24]}",
        "object": "payment_intent",
        "amount": int(form["amount"]),
        "currency": form["currency"],
        "status": status,
        "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
    }


# Stripe's own unit rules: ISK is two-decimal in its API but charged in whole krónur, and
# three-decimal currencies need a last digit of 0.
_WHOLE_UNITS_ONLY = {"isk": 100}
_LAST_DIGIT_ZERO = {"bhd", "jod", "kwd", "omr", "tnd"}


def _invalid_amount(form: dict[str, str]) -> bool:
    if not form.get("amount", "").isdigit() or int(form["amount"]) < 1:
        return True
    amount, currency = int(form["amount"]), form.get("currency", "")
    step = 10 if currency in _LAST_DIGIT_ZERO else _WHOLE_UNITS_ONLY.get(currency, 1)
    return amount % step != 0


def _answer(form: dict[str, str]) -> tuple[int, dict[str, Any]]:
    if _invalid_amount(form):
        return 400, {"error": {"type": "invalid_request_error", "message": "Invalid amount"}}
    method = form.get("payment_method")
    if method is None:
        return 200, _intent(form, "requires_payment_method")
    if method == "pm_card_visa":
        return 200, _intent(form, "succeeded")
    if method == "pm_card_threeDSecure2Required":
        return 200, _intent(form, "requires_action")
    if method == "pm_card_chargeDeclined":
        intent = _intent(form, "requires_payment_method")
        return 402, {
            "error": {
                "type": "card_error",
                "code": "card_declined",
                "message": "Your card was declined.",
                "payment_intent": intent,
            }
        }
    return 400, {"error": {"type": "invalid_request_error", "message": "No such PaymentMethod"}}


def build_app(state: StripeState) -> Starlette:
    async def payment_intents(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return _error(401, "invalid_request_error", "Invalid API Key provided")
        if state.mode == "error500":
            return _error(500, "api_error", "Something went wrong on Stripe's end.")
        if state.mode == "garbage":
            return PlainTextResponse("<html>bad gateway</html>", 502)
        form = {key: str(value) for key, value in (await request.form()).items()}
        state.requests.append(form)
        key = request.headers.get("idempotency-key")
        if key:
            state.idempotency_keys.append(key)
            if key in state.replays:
                status, body = state.replays[key]
                return JSONResponse(body, status, headers={"Idempotent-Replayed": "true"})
        status, body = _answer(form)
        if key:
            state.replays[key] = (status, body)
        return JSONResponse(body, status)

    async def create_checkout(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return _error(401, "invalid_request_error", "Invalid API Key provided")
        if state.mode == "error500":
            return _error(500, "api_error", "Something went wrong on Stripe's end.")
        form = {key: str(value) for key, value in (await request.form()).items()}
        state.requests.append(form)
        key = request.headers.get("idempotency-key")
        if key:
            state.idempotency_keys.append(key)
            if key in state.replays:
                status, body = state.replays[key]
                return JSONResponse(body, status, headers={"Idempotent-Replayed": "true"})
        missing = [
            name
            for name in ("mode", "success_url", "line_items[0][price_data][unit_amount]")
            if not form.get(name)
        ]
        if missing:
            return _error(400, "invalid_request_error", f"Missing required param: {missing[0]}")
        session_id = f"cs_test_{uuid.uuid4().hex[:24]}"
        state.sessions[session_id] = {
            "id": session_id,
            "object": "checkout.session",
            "mode": form["mode"],
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": int(form["line_items[0][price_data][unit_amount]"]),
            "currency": form["line_items[0][price_data][currency]"],
            "success_url": form["success_url"],
            "url": f"https://checkout.stripe.test/c/pay/{session_id}",
            "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
        }
        if key:
            state.replays[key] = (200, state.sessions[session_id])
        return JSONResponse(state.sessions[session_id])

    async def read_checkout(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return _error(401, "invalid_request_error", "Invalid API Key provided")
        found = state.sessions.get(request.path_params["session_id"])
        if found is None:
            return _error(404, "invalid_request_error", "No such checkout.session")
        return JSONResponse(found)

    return Starlette(
        routes=[
            Route("/v1/payment_intents", payment_intents, methods=["POST"]),
            Route("/v1/checkout/sessions", create_checkout, methods=["POST"]),
            Route("/v1/checkout/sessions/{session_id}", read_checkout, methods=["GET"]),
        ]
    )


@dataclass
class RunningStripe:
    url: str
    state: StripeState


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_stripe() -> Iterator[RunningStripe]:
    state = StripeState()
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
            raise RuntimeError("fake Stripe did not start")
        time.sleep(0.02)
    try:
        yield RunningStripe(f"http://127.0.0.1:{port}", state)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
