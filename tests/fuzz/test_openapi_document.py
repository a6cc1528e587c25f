"""The OpenAPI document describes the errors the app really sends (problem+json)."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from schemathesis.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers import PASSWORD


@pytest.fixture
async def document(client: httpx.AsyncClient) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_dict((await client.get("/openapi.json")).json())


async def test_a_validation_error_is_the_documented_problem(
    client: httpx.AsyncClient, document: schemathesis.BaseSchema
) -> None:
    body = {"email": "not an address", "password": PASSWORD, "workspace_name": "W"}
    case = document["/api/auth/register"]["POST"].Case(body=body)
    response = await client.post("/api/auth/register", json=body)
    assert response.status_code == 422
    case.validate_response(response, checks=[content_type_conformance, response_schema_conformance])


async def test_any_other_error_is_a_documented_problem(
    client: httpx.AsyncClient, document: schemathesis.BaseSchema
) -> None:
    case = document["/api/workspace"]["GET"].Case()
    response = await client.get("/api/workspace")
    assert response.status_code == 401
    checks = [status_code_conformance, content_type_conformance, response_schema_conformance]
    case.validate_response(response, checks=checks)


async def test_every_operation_documents_problems(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, item in paths.items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert responses["default"]["content"] == problem, (method, path)
            if "422" in responses:
                assert responses["422"]["content"] == problem, (method, path)
