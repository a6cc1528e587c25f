"""HTTP conventions: problem+json everywhere, body limits, and no input that yields a 500."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.helpers import assert_problem, login, register

pytestmark = pytest.mark.slow


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"max_request_bytes": 4096}


class TestBodyLimit:
    async def test_declared_length_over_limit_is_413(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/api/auth/login",
            content=b"{" + b" " * 5000 + b"}",
            headers={"content-type": "application/json"},
        )
        assert_problem(response, 413, "payload-too-large")

    async def test_streamed_body_over_limit_is_413(self, client: httpx.AsyncClient) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b" " * 1000

        response = await client.post(
            "/api/auth/login", content=chunks(), headers={"content-type": "application/json"}
        )
        assert_problem(response, 413)

    async def test_bogus_content_length_is_refused(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/api/auth/login",
            content=b"{}",
            headers={"content-type": "application/json", "content-length": "abc"},
        )
        assert response.status_code in (400, 413)


class TestNulCharacters:
    """PostgreSQL cannot store U+0000 in text; it is refused at the edge on both engines."""

    async def test_in_a_json_body_it_is_refused_and_nothing_is_written(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await register(client)
        response = await client.post(
            "/api/agents", json={"name": "a\u0000b", "role": "r"}, headers=owner.headers
        )
        assert_problem(response, 422, "invalid-input")
        assert "NUL" in response.json()["detail"]
        listed = await client.get("/api/agents", headers=owner.headers)
        assert listed.json()["total"] == 0

    async def test_a_literal_backslash_u0000_is_ordinary_text(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await register(client)
        name = "see \\u0000 in the docs"  # backslash, then the letters u0000
        response = await client.post(
            "/api/agents", json={"name": name, "role": "r"}, headers=owner.headers
        )
        assert response.status_code == 201, response.text
        assert response.json()["name"] == name

    async def test_in_a_form_or_a_query_string_it_is_refused(
        self, client: httpx.AsyncClient
    ) -> None:
        form = await client.post(
            "/signin",
            content=b"email=a%00b&password=x",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert_problem(form, 422, "invalid-input")
        owner = await register(client)
        query = await client.get("/api/contacts?q=a%00", headers=owner.headers)
        assert_problem(query, 422, "invalid-input")


class TestProblemDocuments:
    async def test_unknown_route(self, client: httpx.AsyncClient) -> None:
        assert_problem(await client.get("/api/nope"), 404, "not-found")

    async def test_wrong_method(self, client: httpx.AsyncClient) -> None:
        assert_problem(await client.put("/api/auth/login"), 405)

    async def test_invalid_json(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/api/auth/login", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert_problem(response, 422, "invalid-input")

    async def test_request_id_is_echoed_or_created(self, client: httpx.AsyncClient) -> None:
        given = await client.get("/health", headers={"x-request-id": "abc-123"})
        assert given.headers["x-request-id"] == "abc-123"
        hostile = await client.get("/health", headers={"x-request-id": "<script>"})
        assert re.fullmatch(r"[0-9a-f]{32}", hostile.headers["x-request-id"])
        assert hostile.headers["x-content-type-options"] == "nosniff"

    async def test_openapi_docs_are_served(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/docs")).status_code == 200
        schema = (await client.get("/openapi.json")).json()
        assert "/api/auth/login" in schema["paths"]


NASTY_VALUES: list[Any] = [
    None,
    0,
    -1,
    2**70,
    1.5e308,
    True,
    "",
    " ",
    "é" * 300,
    "\u0000",
    "💥" * 50,
    "' OR 1=1 --",
    "../../etc/passwd",
    [],
    [1, 2],
    {},
    {"$gt": ""},
    "x" * 3000,
]
NASTY_IDS = ["0", "not-a-uuid", "%00", "💥", "9" * 80, "00000000-0000-0000-0000-000000000000"]


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if path.startswith("/api/")
    ]


def _body_fields(schema: dict[str, Any], operation: dict[str, Any]) -> list[str]:
    ref = (
        operation.get("requestBody", {})
        .get("content", {})
        .get("application/json", {})
        .get("schema", {})
        .get("$ref")
    )
    if not ref:
        return []
    component = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return list(component.get("properties", {}))


def _attempts(path: str, fields: list[str]) -> Iterator[tuple[str, Any]]:
    """Every bad id with an empty body, then every bad body at a well-formed id that names
    nothing (so a body that validates reaches the service): a body is validated the same
    whatever the id, so trying each body at each id would only repeat work."""
    bodies: list[Any] = [None, "[]", "null", '{"a":'] + [
        dict.fromkeys(fields, value) for value in NASTY_VALUES
    ]
    urls = [re.sub(r"\{[^}]+\}", bad_id, path) for bad_id in NASTY_IDS]
    if "{" not in path:
        urls = urls[-1:]
    for url in urls:
        yield url, None
    for body in bodies[1:]:
        yield urls[-1], body


async def _signed_out(client: httpx.AsyncClient, headers: dict[str, str]) -> bool:
    return (await client.get("/api/auth/me", headers=headers)).status_code == 401


async def test_no_input_produces_a_500(client: httpx.AsyncClient) -> None:
    """Throw wrong types, unicode, huge values and bad ids at every API operation."""
    owner = await register(client)
    schema = (await client.get("/openapi.json")).json()
    credentials: list[dict[str, str]] = [{}, owner.headers, {"Authorization": "Bearer ifk_x_y"}]
    checked = 0
    for method, path, operation in _operations(schema):
        # A credential refused at the door (401/403) never reaches the body's handling: the
        # rest of that operation's attempts would only repeat the refusal.
        refused: set[int] = set()
        for url, body in _attempts(path, _body_fields(schema, operation)):
            for index, headers in enumerate(credentials):
                if index in refused:
                    continue
                kwargs: dict[str, Any] = (
                    {"content": body, "headers": {**headers, "content-type": "application/json"}}
                    if isinstance(body, str)
                    else {"json": body, "headers": headers}
                )
                response = await client.request(method, url, **kwargs)
                checked += 1
                assert response.status_code < 500, (method, url, body, response.text)
                if (
                    response.status_code == 401
                    and index == 1
                    and await _signed_out(client, headers)
                ):
                    # An operation (sign-out) ended the owner's session: sign in again, so the
                    # rest still runs signed in instead of silently testing the door.
                    credentials[1] = (await login(client, owner.email)).headers
                elif response.status_code in (401, 403) and body is None:
                    refused.add(index)
                if response.status_code >= 400:
                    assert response.headers["content-type"].startswith("application/problem+json")
    assert checked > 500
