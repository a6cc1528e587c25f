"""Scopes are declared per route (`dependencies=[requires(Scope.x)]`, shown in the OpenAPI
document as `x-required-scopes`) and the declarations are true, for every route.

Generated from the route table: every route that takes a credential declares its scopes (or is
listed in `NO_SCOPE` with why), a key holding every scope but the declared ones is refused
(403) and a key holding only them is not. The walk covers the app's whole OpenAPI document
(fault injection switched on, so its routes are there too). Each operation is called with the
smallest *valid* input Schemathesis can generate for it, so a refusal cannot hide behind a 422
for a malformed body: the scope check must come before anything else looks at the request.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode

from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.http.openapi import api_routes, route_scopes, takes_credential
from tests.helpers import register

ALL_SCOPES = [scope.value for scope in Scope]
# Routes that take a credential but declare no scope, and why.
NO_SCOPE = {
    ("GET", "/api/auth/me"): "who am I: any valid credential",
    ("POST", "/api/auth/logout"): "any session signs itself out (keys are revoked instead)",
    ("POST", "/api/auth/password"): "people only: a key is refused whatever its scopes",
    ("GET", "/metrics"): "the metrics token, not an API key (observability/metrics_guard.py)",
}
# Operations with rules beyond their scopes, which a key with only those scopes cannot pass.
BEYOND_SCOPES = {
    "POST /api/api-keys": "the generated key may ask for scopes its creator's key lacks",
    "GET /api/billing/operator/payments/pending": "FLOW_OPERATOR_WORKSPACES must name it",
    "POST /api/billing/operator/payments/{payment_id}/confirm": "the same operator rule",
    "POST /api/billing/operator/payments/{payment_id}/fail": "the same operator rule",
    "PUT /api/ops/faults": "owners only (a key acts as an admin at most)",
    "DELETE /api/ops/faults": "owners only (a key acts as an admin at most)",
}
# Inputs tried per operation: the first is usually enough; a body with a rule its JSON schema
# cannot state (e.g. `api_key` required by some providers only) may need a few more before one
# gets past validation. Derandomized: the same inputs on every run.
TRIES = 25
_GENERATED: dict[tuple[str, int], list[dict[str, Any]]] = {}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    source: schemathesis.APIOperation

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    def valid_requests(self, count: int) -> list[dict[str, Any]]:
        """`count` generated inputs that match the operation's schema, as request arguments
        (generated once per run: derandomized, they are the same every time)."""
        key = (self.label, count)
        if key not in _GENERATED:
            _GENERATED[key] = self._generate(count)
        return copy.deepcopy(_GENERATED[key])

    def _generate(self, count: int) -> list[dict[str, Any]]:
        cases: list[schemathesis.Case] = []
        strategy = self.source.as_strategy(generation_mode=GenerationMode.POSITIVE)

        @hypothesis_settings(
            max_examples=count,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def generate(case: schemathesis.Case) -> None:
            cases.append(case)

        generate()
        return [_request_arguments(case) for case in cases]


def _request_arguments(case: schemathesis.Case) -> dict[str, Any]:
    request = case.as_transport_kwargs(base_url="http://testserver")
    for sent_by_the_test in ("method", "headers", "cookies"):
        request.pop(sent_by_the_test, None)
    return request


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"fault_injection": True}


def _accepts_a_key(operation: schemathesis.APIOperation) -> bool:
    # /metrics has its own token, not an API key (observability/metrics_guard.py).
    return operation.path.startswith("/api/") and bool(operation.definition.raw.get("security"))


def key_operations(openapi: dict[str, Any]) -> list[Operation]:
    """Every operation of the document that accepts an API key."""
    schema = schemathesis.openapi.from_dict(openapi)
    found = [result.ok() for result in schema.get_all_operations()]
    return [Operation(op.method.upper(), op.path, op) for op in found if _accepts_a_key(op)]


def _rejected_input(response: httpx.Response) -> bool:
    # A schema-valid input can still break a rule the schema cannot state (a field required
    # by some providers only, a NUL character refused at the edge): try the next one. A route
    # that answers 422 to every input before checking the scope still fails the walk.
    return response.status_code == 422


async def call_with_valid_input(
    client: httpx.AsyncClient, operation: Operation, headers: dict[str, str]
) -> httpx.Response:
    """The response to the first generated input that passes the request's own validation."""
    response = await client.request(
        operation.method, headers=headers, **operation.valid_requests(1)[0]
    )
    if not _rejected_input(response):
        return response
    for request in operation.valid_requests(TRIES)[1:]:
        response = await client.request(operation.method, headers=headers, **request)
        if not _rejected_input(response):
            break
    return response


async def key_with(client: httpx.AsyncClient, owner: Any, *scopes: str) -> dict[str, str]:
    created = await client.post(
        "/api/api-keys", json={"name": "scoped", "scopes": list(scopes)}, headers=owner.headers
    )
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['key']}"}


def test_every_route_taking_a_credential_declares_its_scopes(app: Any) -> None:
    """Generated from the route table: a new route without `requires(...)` fails here."""
    undeclared = [
        f"{method} {route.path_format}"
        for route in api_routes(app.routes)
        if takes_credential(route) and not route_scopes(route)
        for method in sorted(route.methods or ())
        if (method, route.path_format) not in NO_SCOPE
    ]
    assert not undeclared, "routes without declared scopes:\n" + "\n".join(undeclared)


async def test_a_key_without_the_declared_scopes_is_refused(
    client: httpx.AsyncClient, app: Any
) -> None:
    """Each declared scope is needed: a key holding every other scope gets 403 (before the
    request is looked at: the input is valid)."""
    owner = await register(client, workspace="Operators")
    operations = key_operations(app.openapi())
    assert len(operations) > 80, "the walk must cover the whole API"
    wrong: list[str] = []
    keys: dict[frozenset[str], dict[str, str]] = {}
    for operation in operations:
        declared = frozenset(operation.source.definition.raw.get("x-required-scopes", []))
        if not declared:
            continue
        if declared not in keys:
            others = [scope for scope in ALL_SCOPES if scope not in declared]
            keys[declared] = await key_with(client, owner, *others)
        response = await call_with_valid_input(client, operation, keys[declared])
        problem = response.headers.get("content-type", "").startswith("application/problem")
        if response.status_code != 403 or not problem:
            wrong.append(f"{operation.label}: {response.status_code} {response.text[:300]}")
    assert not wrong, "operations that did not refuse a key without their scopes:\n" + (
        "\n".join(wrong)
    )


async def test_the_declared_scopes_are_enough(client: httpx.AsyncClient, app: Any) -> None:
    """A key holding only the declared scopes gets past every scope check (no 403), so the
    document names all the scopes a route needs."""
    owner = await register(client, workspace="Operators")
    wrong: list[str] = []
    keys: dict[frozenset[str], dict[str, str]] = {}
    for operation in key_operations(app.openapi()):
        declared = frozenset(operation.source.definition.raw.get("x-required-scopes", []))
        if not declared or operation.label in BEYOND_SCOPES:
            continue
        if declared not in keys:
            keys[declared] = await key_with(client, owner, *sorted(declared))
        response = await call_with_valid_input(client, operation, keys[declared])
        if response.status_code == 403:
            wrong.append(f"{operation.label}: {response.text[:300]}")
    assert not wrong, "operations that need more than they declare:\n" + "\n".join(wrong)


async def test_the_same_calls_without_a_credential_are_unauthorised(
    client: httpx.AsyncClient, app: Any
) -> None:
    """The walk reaches the routes' authentication (no call dies on routing or input)."""
    await register(client, workspace="Operators")
    for operation in key_operations(app.openapi()):
        response = await client.request(operation.method, **operation.valid_requests(1)[0])
        assert response.status_code == 401, f"{operation.label}: {response.status_code}"
