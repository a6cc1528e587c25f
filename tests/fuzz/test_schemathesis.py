"""Schemathesis over the app's own OpenAPI document, on SQLite and PostgreSQL.

Every operation is called with generated valid (positive) and invalid (negative) input, once
anonymously and once with an owner's API key holding every scope, under all of Schemathesis's
checks. A response must never be a server error, its status must be one the operation
documents (there is no `default` response to hide behind), and its media type, headers and
body must match the document (every error is a problem+json `ProblemDetails`, see
kit/http/openapi.py); invalid input must be refused and valid input not refused for its shape.

Bounded and reproducible for CI: `FLOW_FUZZ_EXAMPLES` examples per operation and mode (default
3), derandomized (the same inputs on every run), no shrinking and no example database.
`make fuzz` runs the same tests with many more examples.

Schemathesis's own pytest integration (`schema.parametrize()`) does not run on pytest 9.2 (it
sets the removed `Node._nodeid`), so each operation's strategy drives a Hypothesis test here;
every failing operation is collected, so one run lists them all.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    allow_header_conformance,
    content_type_conformance,
    ensure_resource_availability,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    not_a_server_error,
    object_level_authorization,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
    use_after_free,
)
from schemathesis.core.failures import Failure, FailureGroup, ServerError

from tests.fuzz.conftest import ServedApp

EXAMPLES = int(os.environ.get("FLOW_FUZZ_EXAMPLES", "3"))
# Every check Schemathesis has: server errors, undocumented statuses, media types, headers and
# bodies, invalid input accepted, valid input refused, authentication ignored, missing headers,
# unsupported methods (the stateful ones see one call at a time here and pass through).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    missing_required_header,
    unsupported_method,
    allow_header_conformance,
    ignored_auth,
    use_after_free,
    ensure_resource_availability,
    object_level_authorization,
]
# Seconds a response may take on a loaded 2-core machine; a request that hangs is a finding.
REQUEST_TIMEOUT = 30
NOT_SERVER_ERRORS = ["1XX", "2XX", "3XX", "4XX"]
# What schema-valid input may still get: Schemathesis's defaults (missing ids, credentials,
# conflicts, throttles, documented 5xx) plus the rules a JSON Schema cannot state: 402 (the
# plan's limits) and 422 (an event name outside the catalog, a webhook without a signature,
# an import that does not validate row by row).
ACCEPTED_REFUSALS = ["2xx", "3xx", "401", "402", "403", "404", "409", "422", "429", "5xx"]
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)

pytestmark = [pytest.mark.fuzz, pytest.mark.slow]


@dataclass(frozen=True)
class Finding:
    operation: str
    problem: str
    reproduce: str

    def __str__(self) -> str:
        return f"{self.operation}: {self.problem}\n    {self.reproduce}"


@pytest.fixture
def session() -> Iterator[requests.Session]:
    # One keep-alive connection for a whole run, as a client would: a response that breaks it
    # surfaces as a connection error on the next call.
    with requests.Session() as http:
        yield http


def _config(openapi: dict[str, Any]) -> schemathesis.Config:
    """Checks as configured for this document: a 5xx an operation documents (readiness answers
    503 when a component fails) is its contract, not a server error."""
    operations = [
        {
            "include-path": path,
            "include-method": method.upper(),
            "checks": {"not_a_server_error": {"expected-statuses": NOT_SERVER_ERRORS + promised}},
        }
        for path, item in openapi["paths"].items()
        for method, operation in item.items()
        if (promised := [code for code in operation.get("responses", {}) if code[0] == "5"])
    ]
    # A reset token is an opaque random value: a well-formed one that was never issued, or is
    # used or expired, gets the 400 the operation documents, whatever a generator sends.
    operations.append(
        {
            "include-path": "/api/auth/password-reset/confirm",
            "include-method": "POST",
            "checks": {
                "positive_data_acceptance": {"expected-statuses": [*ACCEPTED_REFUSALS, "400"]}
            },
        }
    )
    # Test credentials only: reproductions show requests exactly as sent.
    return schemathesis.Config.from_dict(
        {
            "output": {"sanitization": {"enabled": False}},
            "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED_REFUSALS}},
            "operations": operations,
        }
    )


def _problems(exc: BaseException) -> list[str]:
    failures = exc.exceptions if isinstance(exc, FailureGroup) else [exc]
    return [_describe(failure) for failure in failures]


def _describe(failure: BaseException) -> str:
    if isinstance(failure, ServerError):
        return f"{failure.title} ({failure.status_code})"
    if isinstance(failure, Failure):
        return f"{failure.title}: {_first_line(failure.message)}"
    # Not a check failure: the call itself failed (e.g. the server dropped the connection).
    return f"{type(failure).__name__}: {_first_line(str(failure))}"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else ""


def _fuzz_operation(
    operation: schemathesis.APIOperation,
    mode: GenerationMode,
    *,
    served: ServedApp,
    session: requests.Session,
    headers: dict[str, str],
) -> list[Finding]:
    """All distinct problems of one operation; the first failing case of each is kept."""
    findings: dict[str, Finding] = {}

    @FUZZ_SETTINGS
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: schemathesis.Case) -> None:
        try:
            case.call_and_validate(
                base_url=served.base_url,
                session=session,
                headers=headers,
                checks=CHECKS,
                timeout=REQUEST_TIMEOUT,
            )
        # Recorded, not raised, so the run goes on to list every problem. FailureGroup is a
        # BaseExceptionGroup, not an Exception.
        except (Exception, FailureGroup) as exc:
            reproduce = case.as_curl_command(headers=headers, base_url=served.base_url)
            for problem in _problems(exc):
                findings.setdefault(problem, Finding(operation.label, problem, reproduce))

    try:
        call()
    except Unsatisfiable:
        # Negative mode on an operation without parameters or body: nothing can be invalid.
        assert mode is GenerationMode.NEGATIVE, operation.label
    return list(findings.values())


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("auth", ["anonymous", "api_key"])
def test_every_operation_answers_without_server_error_and_as_documented(
    served: ServedApp, session: requests.Session, auth: str, mode: GenerationMode
) -> None:
    headers = served.key_headers if auth == "api_key" else {}
    schema = schemathesis.openapi.from_dict(served.openapi, config=_config(served.openapi))
    findings: list[Finding] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        findings += _fuzz_operation(
            operation, mode, served=served, session=session, headers=headers
        )
    assert not findings, f"{len(findings)} problem(s) on {served.engine}:\n" + "\n".join(
        map(str, findings)
    )
