"""The OpenAPI document is the contract: short unique operationIds, every error status listed as
a problem+json `ProblemDetails`, required scopes visible (kit/http/openapi.py)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers import PASSWORD

pytestmark = pytest.mark.slow

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}
OPERATION_ID = re.compile(r"[a-z_]+:[a-z_]+")
# Error statuses whose body is the operation's own: readiness reports each component either way.
OWN_ERROR_BODIES = {("GET", "/ready", "503")}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"fault_injection": True}  # its routes are part of the document too


@pytest.fixture
async def openapi(client: httpx.AsyncClient) -> dict[str, Any]:
    document: dict[str, Any] = (await client.get("/openapi.json")).json()
    return document


def _operations(openapi: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in openapi["paths"].items()
        for method, operation in item.items()
    ]


async def test_a_validation_error_is_the_documented_problem(
    client: httpx.AsyncClient, openapi: dict[str, Any]
) -> None:
    document = schemathesis.openapi.from_dict(openapi)
    body = {"email": "not an address", "password": PASSWORD, "workspace_name": "W"}
    case = document["/api/auth/register"]["POST"].Case(body=body)
    response = await client.post("/api/auth/register", json=body)
    assert response.status_code == 422
    case.validate_response(response, checks=[content_type_conformance, response_schema_conformance])
    assert response.json()["errors"][0]["field"] == "body.email"


async def test_an_authentication_error_is_a_documented_status_and_problem(
    client: httpx.AsyncClient, openapi: dict[str, Any]
) -> None:
    document = schemathesis.openapi.from_dict(openapi)
    case = document["/api/workspace"]["GET"].Case()
    response = await client.get("/api/workspace")
    assert response.status_code == 401
    checks = [status_code_conformance, content_type_conformance, response_schema_conformance]
    case.validate_response(response, checks=checks)


def test_operation_ids_are_short_unique_and_tagged(openapi: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in _operations(openapi)]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert all(OPERATION_ID.fullmatch(i) for i in ids), [i for i in ids if "__" in i]
    for _, _, operation in _operations(openapi):
        tag = operation["tags"][0].replace(" ", "_")
        assert operation["operationId"].startswith(f"{tag}:"), operation["operationId"]
    assert {"campaigns:list", "campaigns:create", "campaigns:get"} <= set(ids)


def test_every_error_status_is_a_problem_and_there_is_no_catch_all(
    openapi: dict[str, Any],
) -> None:
    for method, path, operation in _operations(openapi):
        responses = operation["responses"]
        assert "default" not in responses, (method, path)
        assert "422" in responses, (method, path)  # the edge refuses NUL characters anywhere
        for status, response in responses.items():
            if int(status) >= 400 and (method, path, status) not in OWN_ERROR_BODIES:
                assert response["content"] == PROBLEM, (method, path, status)
    schema = openapi["components"]["schemas"]["ProblemDetails"]
    assert {"type", "title", "status", "detail"} <= set(schema["required"])
    assert {"instance", "errors", "retry_after", "limit"} <= set(schema["properties"])


def test_statuses_follow_from_what_each_route_declares(openapi: dict[str, Any]) -> None:
    campaign = openapi["paths"]["/api/campaigns/{campaign_id}"]
    assert set(campaign["get"]["responses"]) == {"200", "401", "403", "404", "422", "503"}
    assert set(campaign["patch"]["responses"]) == {
        "200", "400", "401", "403", "404", "409", "413", "422", "503"
    }  # fmt: skip
    # A route that needs the database says it may be unavailable, and when to retry.
    assert "Retry-After" in campaign["get"]["responses"]["503"]["headers"]
    assert "503" not in openapi["paths"]["/health"]["get"]["responses"]
    register = openapi["paths"]["/api/auth/register"]["post"]["responses"]
    assert {"409", "429"} <= set(register)
    assert "401" not in register
    assert "Retry-After" in register["429"]["headers"]
    invite = openapi["paths"]["/api/workspace/invitations"]["post"]["responses"]
    assert "/problems/plan-limit" in invite["402"]["description"]


def test_required_scopes_are_in_the_security_requirements(openapi: dict[str, Any]) -> None:
    listing = openapi["paths"]["/api/campaigns"]["get"]
    assert listing["x-required-scopes"] == ["campaigns:read"]
    assert listing["security"] == [
        {"HTTPBearer": ["campaigns:read"]},
        {"APIKeyHeader": ["campaigns:read"]},
    ]
    for method, path, operation in _operations(openapi):
        scopes = operation.get("x-required-scopes")
        if scopes:
            for requirement in operation["security"]:
                assert all(listed == scopes for listed in requirement.values()), (method, path)
