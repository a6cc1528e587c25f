"""Scopes apply to every route: an API key holding only an unrelated scope is refused (403)
by every operation that accepts a credential, instance-wide operator routes included.

The walk covers the app's whole OpenAPI document (fault injection switched on, so its routes
are there too). Each operation is called with the smallest *valid* input Schemathesis can
generate for it, so a refusal cannot hide behind a 422 for a malformed body: the scope check
must come before anything else looks at the request. A new route without a scope check fails
this test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode

from tests.helpers import register

READS = frozenset({"GET", "HEAD"})
# An unrelated scope for each kind of route: a reading key tries every change, a writing key
# every read (events are the only domain either scope belongs to, and each is the other's).
UNRELATED = {"read": "events:write", "write": "events:read"}
# Operations any valid credential may call by design, with what a key gets there.
ANY_CREDENTIAL = {
    ("GET", "/api/auth/me"): 200,  # who am I: the key's own role and scopes
    ("POST", "/api/auth/logout"): 422,  # keys are revoked, not logged out
}
# Inputs tried per operation: the first is usually enough; a body with a rule its JSON schema
# cannot state (e.g. `api_key` required by some providers only) may need a few more before one
# gets past validation. Derandomized: the same inputs on every run.
TRIES = 25


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    source: schemathesis.APIOperation

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    def valid_requests(self, count: int) -> list[dict[str, Any]]:
        """`count` generated inputs that match the operation's schema, as request arguments."""
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
    # /metrics has its own token, not an API key (observability/access.py).
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


async def key_with(client: httpx.AsyncClient, owner: Any, scope: str) -> dict[str, str]:
    created = await client.post(
        "/api/api-keys", json={"name": scope, "scopes": [scope]}, headers=owner.headers
    )
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['key']}"}


async def test_a_key_with_an_unrelated_scope_is_refused_everywhere(
    client: httpx.AsyncClient, app: Any
) -> None:
    # The first workspace operates the instance: operator routes refuse the key for its scope,
    # not for its workspace.
    owner = await register(client, workspace="Operators")
    keys = {kind: await key_with(client, owner, scope) for kind, scope in UNRELATED.items()}
    operations = key_operations(app.openapi())
    assert len(operations) > 80, "the walk must cover the whole API"
    assert {"/api/alerts/silences", "/api/ops/faults"} <= {op.path for op in operations}

    wrong: list[str] = []
    for operation in operations:
        key = keys["read" if operation.method in READS else "write"]
        response = await call_with_valid_input(client, operation, key)
        expected = ANY_CREDENTIAL.get((operation.method, operation.path), 403)
        problem = response.headers.get("content-type", "").startswith("application/problem")
        if response.status_code != expected or (expected >= 400 and not problem):
            wrong.append(f"{operation.label}: {response.status_code} {response.text[:400]}")
    assert not wrong, "operations that did not refuse an unrelated key:\n" + "\n".join(wrong)


async def test_the_same_calls_without_a_credential_are_unauthorised(
    client: httpx.AsyncClient, app: Any
) -> None:
    """The walk reaches the routes' authentication (no call dies on routing or input)."""
    await register(client, workspace="Operators")
    for operation in key_operations(app.openapi()):
        response = await client.request(operation.method, **operation.valid_requests(1)[0])
        assert response.status_code == 401, f"{operation.label}: {response.status_code}"
