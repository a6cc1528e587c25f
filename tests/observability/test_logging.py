"""Structured logs: one JSON object per line with request, trace and caller ids, and no
secret anywhere, whether it arrives in a body, a header, a message, a URL or a traceback."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import httpx
import pytest
import structlog
from fastapi import Request
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from intuitivus_flow.config import LogFormat
from intuitivus_flow.identity.http import CurrentPrincipal
from intuitivus_flow.kit.security import digest
from intuitivus_flow.observability.install import Telemetry
from intuitivus_flow.observability.logging import REDACTED, configure_logging, redact_value
from intuitivus_flow.observability.metrics import FlowMetrics
from tests.conftest import Database
from tests.helpers import PASSWORD, login, register

DSN = "postgresql://u:secret@h/db"
PROVIDER_KEY = "sk-proj-Abc123def456ghi789"


@pytest.fixture
def telemetry(registry: Any, tracer_provider: TracerProvider) -> Telemetry:
    return Telemetry(metrics=FlowMetrics(registry), tracer_provider=tracer_provider)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"log_format": "json"}


@pytest.fixture
def log_lines(app: Any) -> Any:
    buffer = io.StringIO()
    configure_logging(app.state.context.settings, stream=buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    configure_logging(app.state.context.settings)


def add_careless_route(app: Any) -> None:
    """An endpoint written the way secrets usually leak: logging what it was given."""
    structured = structlog.stdlib.get_logger("careless")
    stdlib = logging.getLogger("careless.stdlib")

    async def careless(request: Request, principal: CurrentPrincipal) -> dict[str, str]:
        body = await request.json()
        structured.info("got request", headers=dict(request.headers), body=body)
        stdlib.warning("could not reach %s using %s", DSN, request.headers["authorization"])
        try:
            raise RuntimeError(f"vendor refused {PROVIDER_KEY} for {body['api_key']}")
        except RuntimeError:
            stdlib.exception("vendor call failed")
        return {"ok": "yes"}

    app.add_api_route("/test/careless", careless, methods=["POST"])


async def test_no_secret_reaches_the_log(
    client: httpx.AsyncClient, app: Any, log_lines: Any
) -> None:
    add_careless_route(app)
    owner = await register(client)
    wrong = await client.post(
        "/api/auth/login", json={"email": "x@example.com", "password": PASSWORD}
    )
    assert wrong.status_code == 401
    created = await client.post(
        "/api/api-keys", json={"name": "ci", "scopes": ["workspace:read"]}, headers=owner.headers
    )
    api_key = created.json()["key"]
    response = await client.post(
        "/test/careless",
        json={"password": PASSWORD, "api_key": api_key, "note": f"token={owner.refresh_token}"},
        headers={**owner.headers, "X-Api-Key-Note": api_key, "Cookie": "flow_session=abc123"},
    )
    assert response.status_code == 200

    lines = log_lines()
    text = "\n".join(json.dumps(line) for line in lines)
    secrets = [
        PASSWORD,
        owner.access_token,
        owner.refresh_token,
        api_key,
        api_key.split("_", 2)[2],  # the secret part, which may itself hold "_"
        PROVIDER_KEY,
        "u:secret@",
        "abc123",
    ]
    for secret in secrets:
        assert secret not in text, secret
    careless = [line for line in lines if line.get("logger", "").startswith("careless")]
    assert len(careless) == 3
    assert all(REDACTED in json.dumps(line) for line in careless)
    assert "postgresql://u:[REDACTED]@h/db" in careless[1]["event"]
    assert "RuntimeError: vendor refused [REDACTED]" in careless[2]["exception"]


async def test_lines_carry_request_trace_and_caller(
    client: httpx.AsyncClient, log_lines: Any
) -> None:
    owner = await register(client)
    response = await client.get(
        "/api/workspace", headers={**owner.headers, "X-Request-ID": "req-42"}
    )
    assert response.status_code == 200
    (access,) = [
        line
        for line in log_lines()
        if line["event"] == "request" and line.get("request_id") == "req-42"
    ]
    assert access["route"] == "/api/workspace"
    assert access["status"] == 200
    assert access["level"] == "info"
    assert access["trace_id"] == response.headers["x-trace-id"]
    assert len(access["span_id"]) == 16
    me = (await client.get("/api/auth/me", headers=owner.headers)).json()
    assert access["user_id"] == me["id"]
    assert access["workspace_id"] == me["workspace"]["id"]


async def test_identity_does_not_leak_into_the_next_request(
    client: httpx.AsyncClient, log_lines: Any
) -> None:
    owner = await register(client)
    await client.get("/api/workspace", headers=owner.headers)
    await client.get("/health")
    health = [line for line in log_lines() if line.get("route") == "/health"][-1]
    assert "user_id" not in health
    assert "workspace_id" not in health


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"Authorization": "Bearer abc.def"}, {"Authorization": REDACTED}),
        ({"nested": [{"password": "p"}]}, {"nested": [{"password": REDACTED}]}),
        ("auth Bearer abc.def-ghi ok", f"auth Bearer {REDACTED} ok"),
        ("jwt eyJhbGciOi.eyJzdWIiOi.c2ln end", f"jwt {REDACTED} end"),
        ("key ifk_ab12cd34_s3cr3tvalue here", f"key {REDACTED} here"),
        ("use sk-ant-api03-abcdefghij now", f"use {REDACTED} now"),
        ("redis://:pw@cache:6379/0", f"redis://:{REDACTED}@cache:6379/0"),
        ("GET /x?token=abc&page=2", f"GET /x?token={REDACTED}&page=2"),
        ("password=hunter2 rest", f"password={REDACTED} rest"),
        ("disk-usage-percent and task-scheduler", "disk-usage-percent and task-scheduler"),
    ],
)
def test_redaction_rules(value: Any, expected: Any) -> None:
    assert redact_value(value) == expected


def test_console_format_is_the_local_default() -> None:
    from intuitivus_flow.config import Settings

    assert Settings(env="local").resolved_log_format is LogFormat.console
    assert Settings(env="production").resolved_log_format is LogFormat.json
    assert Settings(env="production", log_format="console").resolved_log_format is LogFormat.console


class TestDebugLevel:
    """FLOW_LOG_LEVEL=DEBUG is for reading our own code's detail, never the drivers' parameters
    (argon2 hashes, token digests, ciphertexts) nor the HTTP client's headers."""

    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"log_format": "json", "log_level": "DEBUG"}

    async def test_a_sign_in_logs_no_hash_digest_or_password(
        self, client: httpx.AsyncClient, app: Any, log_lines: Any
    ) -> None:
        owner = await register(client)
        signed_in = await login(client, owner.email)
        refreshed = await client.post(
            "/api/auth/refresh", json={"refresh_token": signed_in.refresh_token}
        )
        assert refreshed.status_code == 200
        wrong = await client.post(
            "/api/auth/login", json={"email": owner.email, "password": "not the password"}
        )
        assert wrong.status_code == 401

        logging.getLogger("intuitivus_flow.probe").debug("our own detail")

        lines = log_lines()
        assert any(line["event"] == "our own detail" for line in lines)  # DEBUG is really on
        text = "\n".join(json.dumps(line) for line in lines)
        secrets = [
            PASSWORD,
            "not the password",
            "$argon2",  # any password hash
            digest(signed_in.refresh_token),
            digest(owner.refresh_token),
        ]
        for secret in secrets:
            assert secret not in text, secret


async def test_statement_errors_do_not_carry_their_parameters(database: Database) -> None:
    """A failing statement's message is logged with the 500 it causes: no parameters in it."""
    secret = "$argon2id$v=19$not-for-logs"
    with pytest.raises(DBAPIError) as failed:
        async with database.engine.connect() as connection:
            await connection.execute(text("INSERT INTO no_such_table VALUES (:h)"), {"h": secret})
    assert "no_such_table" in str(failed.value)
    assert secret not in str(failed.value)
