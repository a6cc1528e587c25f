"""The OpenAPI document tells the truth about errors: every one is application/problem+json.

FastAPI documents a 422 body (`HTTPValidationError`, `detail` as a list) the app never sends:
`kit/http/problems.py` renders validation errors, like every other error, as an RFC 9457
problem. Clients and fuzzers trust the document, so it is corrected once here, for every route:
422 and a `default` response both carry the `Problem` schema below.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from intuitivus_flow.kit.http.problems import PROBLEM_MEDIA_TYPE

_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
# FastAPI's own validation-error components, unused once the 422 responses are corrected.
_FASTAPI_ERROR_SCHEMAS = ("HTTPValidationError", "ValidationError")


class Problem(BaseModel):
    """An error (RFC 9457). Some problems add members, such as `retry_after` or `limit`."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="Stable identifier, e.g. `/problems/not-found`.")
    title: str
    status: int
    detail: str
    instance: str | None = Field(default=None, description="Path of the request.")
    # Items differ by problem: `{field, msg, code}` for invalid request fields, `{file, line,
    # field, message}` for the rows of an import.
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="What exactly was invalid (422): one object per field or row."
    )


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}}


def document_problems(document: dict[str, Any]) -> dict[str, Any]:
    """Rewrite `document` (a generated OpenAPI document) so its errors are problems."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_ERROR_SCHEMAS:
        schemas.pop(name, None)
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for path_item in document.get("paths", {}).values():
        for method, operation in path_item.items():
            if method in _HTTP_METHODS:
                _document_operation_problems(operation.setdefault("responses", {}))
    return document


def _document_operation_problems(responses: dict[str, Any]) -> None:
    if "422" in responses:
        responses["422"] = _problem_response("Invalid input; `errors` lists each field.")
    responses.setdefault("default", _problem_response("Error, as a problem document."))


def install_openapi(app: FastAPI) -> None:
    """Serve the corrected document at `app.openapi_url` (built once, on first request)."""
    generate = app.openapi  # FastAPI's own: builds the document once and keeps it

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document_problems(generate())
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
