"""The OpenAPI document as a contract the app is held to (docs/ARCHITECTURE.md, "API contract").

FastAPI's generated document says every operation answers its success status or a 422
`HTTPValidationError`; the app answers problem+json (`kit/http/problems.py`) with many more
statuses. Clients and fuzzers trust the document, so it is rebuilt here from what each route
declares, never from hand-kept lists per route:

- **operationIds** are `{tag}:{name}` (`campaigns:list`), from the route's first tag and its
  function name without the tag's own words (`list_campaigns` -> `list`).
- **Errors** are application/problem+json `ProblemDetails`, one response per status the route
  can answer, derived from the route: 401 when it takes a credential (a security scheme among
  its dependencies), 403 when it declares required scopes, 404 when its path names something,
  400 and 413 when it takes a body (unreadable, too large), 422 always (the edge refuses NUL
  characters in any path or query), plus the domain errors the route declares it raises
  (`openapi_extra=route_errors(Conflict, PlanLimitReached)`), each with its own status.
  No `default` response: a status the document does not list is a finding for the fuzzer.
- **Scopes** a route declares (a dependency carrying `required_scopes`, see `ScopeDeclaration`)
  are listed in its `security` requirements and in `x-required-scopes`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, cast, runtime_checkable

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security.base import SecurityBase
from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import BaseRoute

from intuitivus_flow.kit.errors import FlowError, TooManyRequests
from intuitivus_flow.kit.http.deps import get_session
from intuitivus_flow.kit.http.problems import PROBLEM_MEDIA_TYPE

_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
_PROBLEM_REF = {"$ref": "#/components/schemas/ProblemDetails"}
# FastAPI's own validation-error components, unused once the 422 responses are corrected.
_FASTAPI_ERROR_SCHEMAS = ("HTTPValidationError", "ValidationError")
REQUIRED_SCOPES_EXTENSION = "x-required-scopes"
_RAISES_EXTENSION = "x-raises"  # route -> document hand-over; removed from the served document

# What each derived status means, as the document says it.
_DERIVED = {
    400: "The body could not be read as its media type (e.g. JSON that is not UTF-8).",
    401: "No credential, or one that is invalid, expired or revoked.",
    403: "The credential lacks a required scope or role.",
    404: "Nothing of this workspace has this id.",
    413: "The body is over the size limit.",
    422: "Invalid input; `errors` lists each field.",
    503: "The database is unavailable (down, refusing or not answering in time): retry after "
    "`Retry-After` seconds (`/problems/unavailable`).",
}
# Statuses whose answers carry `Retry-After`.
_RETRY_AFTER_STATUSES = frozenset({TooManyRequests.status_code, 503})


class ProblemDetails(BaseModel):
    """An error (RFC 9457). The members after `instance` are extensions some problems add."""

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
    errors_total: int | None = Field(default=None, description="Rows found invalid (imports).")
    errors_omitted: int | None = Field(default=None, description="Invalid rows not listed.")
    field: str | None = Field(default=None, description="The one field at fault.")
    retry_after: int | None = Field(default=None, description="Seconds to wait (429).")
    limit: str | None = Field(default=None, description="The plan limit reached (402).")
    plan: str | None = Field(default=None, description="The workspace's plan (402).")
    allowed: int | None = Field(default=None, description="What the plan allows (402).")
    used: int | None = Field(default=None, description="What the workspace uses (402).")
    attempts: list[dict[str, Any]] | None = Field(
        default=None, description="Each provider tried and its outcome (LLM 503)."
    )


@runtime_checkable
class ScopeDeclaration(Protocol):
    """A dependency that states the scopes its route needs (and checks them)."""

    required_scopes: tuple[str, ...]


def route_errors(*errors: type[FlowError]) -> dict[str, Any]:
    """`openapi_extra` declaring the domain errors a route raises beyond the derived ones:
    `@router.post(..., openapi_extra=route_errors(Conflict, PlanLimitReached))`."""
    return {_RAISES_EXTENSION: [_error_entry(error) for error in errors]}


def _error_entry(error: type[FlowError]) -> dict[str, Any]:
    return {"status": error.status_code, "title": error.title, "type": error.type}


# --- operationIds ---------------------------------------------------------------------------


def operation_id(route: APIRoute) -> str:
    """`{tag}:{name}`: `list_campaigns` tagged `campaigns` -> `campaigns:list`."""
    tag = str(route.tags[0]) if route.tags else "api"
    return f"{tag.replace(' ', '_')}:{_short_name(route.name, tag)}"


def _short_name(name: str, tag: str) -> str:
    own_words = set()
    for word in [*tag.split(), tag.replace(" ", "")]:
        singular = word.removesuffix("s")
        own_words |= {word, singular, singular + "s"}
    kept = [word for word in name.split("_") if word not in own_words]
    return "_".join(kept) or name


# --- errors ---------------------------------------------------------------------------------


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def route_scopes(route: APIRoute) -> tuple[str, ...]:
    """The scopes `route` declares through its dependencies (empty when it declares none)."""
    scopes: list[str] = []
    for dependant in _dependants(route.dependant):
        if isinstance(dependant.call, ScopeDeclaration):
            scopes += [s for s in dependant.call.required_scopes if s not in scopes]
    return tuple(scopes)


def takes_credential(route: APIRoute) -> bool:
    return any(isinstance(d.call, SecurityBase) for d in _dependants(route.dependant))


def _also_accepted(route: APIRoute) -> list[SecurityBase]:
    """Schemes a route's credential dependency reads besides its own (`also_accepts`): one
    dependency reading two headers costs less per request than two dependencies."""
    found: list[SecurityBase] = []
    for dependant in _dependants(route.dependant):
        for scheme in getattr(dependant.call, "also_accepts", ()):
            if isinstance(scheme, SecurityBase) and scheme not in found:
                found.append(scheme)
    return found


def _document_schemes(operation: dict[str, Any], route: APIRoute, schemes: dict[str, Any]) -> None:
    requirements = operation.setdefault("security", [])
    for scheme in _also_accepted(route):
        if not any(scheme.scheme_name in requirement for requirement in requirements):
            requirements.append({scheme.scheme_name: []})
        schemes.setdefault(
            scheme.scheme_name,
            scheme.model.model_dump(mode="json", by_alias=True, exclude_none=True),
        )
    if not requirements:
        del operation["security"]


def needs_database(route: APIRoute) -> bool:
    """Whether `route` opens a database session (directly, or to check its credential)."""
    return takes_credential(route) or any(
        d.call is get_session for d in _dependants(route.dependant)
    )


def _derived_statuses(route: APIRoute) -> Iterator[int]:
    if takes_credential(route):
        yield 401
    if route_scopes(route):
        yield 403
    if route.dependant.path_params:
        yield 404
    if route.body_field is not None:
        yield 400
        yield 413
    yield 422
    if needs_database(route):
        yield 503


def _route_problems(route: APIRoute) -> dict[int, str]:
    """Status -> description of every error `route` can answer."""
    problems = {status: _DERIVED[status] for status in _derived_statuses(route)}
    for entry in (route.openapi_extra or {}).get(_RAISES_EXTENSION, []):
        status = int(entry["status"])
        title = f"{entry['title']} (`/problems/{entry['type']}`)"
        problems[status] = f"{problems[status]} {title}." if status in problems else f"{title}."
    return problems


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}}


def _document_route(operation: dict[str, Any], route: APIRoute, schemes: dict[str, Any]) -> None:
    operation.pop(_RAISES_EXTENSION, None)
    _document_schemes(operation, route, schemes)
    responses = operation.setdefault("responses", {})
    for status, description in sorted(_route_problems(route).items()):
        key = str(status)
        documented = responses.get(key, {})
        # A route that documents another body for an error status (none today) keeps it.
        if "content" not in documented or key == "422":
            responses[key] = _problem_response(documented.get("description", description))
        if status in _RETRY_AFTER_STATUSES:
            responses[key]["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    scopes = list(route_scopes(route))
    if scopes:
        operation[REQUIRED_SCOPES_EXTENSION] = scopes
        for requirement in operation.get("security", []):
            for scheme in requirement:
                requirement[scheme] = scopes


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, path_item in document.get("paths", {}).items():
        for method, operation in path_item.items():
            if method in _HTTP_METHODS:
                yield path, method.upper(), operation


def api_routes(routes: Sequence[BaseRoute]) -> list[APIRoute]:
    """The documented API routes of `routes` (an app's), with their routers' prefixes, tags and
    dependencies applied (FastAPI keeps included routers' routes unflattened)."""
    found = []
    for context in iter_route_contexts(routes):
        if isinstance(context.original_route, APIRoute) and context.include_in_schema:
            # A RouteContext answers every APIRoute attribute with the effective value.
            found.append(cast(APIRoute, context))
    return found


def document_contract(document: dict[str, Any], routes: Sequence[BaseRoute]) -> dict[str, Any]:
    """Rewrite `document` (generated from `routes`) into the contract described above."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in _FASTAPI_ERROR_SCHEMAS:
        schemas.pop(name, None)
    schemas["ProblemDetails"] = ProblemDetails.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    by_operation = {
        (_openapi_path(route.path_format), method): route
        for route in api_routes(routes)
        for method in route.methods or ()
    }
    security_schemes = components.setdefault("securitySchemes", {})
    for path, method, operation in _operations(document):
        route = by_operation.get((path, method))
        if route is not None:
            _document_route(operation, route, security_schemes)
    if not security_schemes:
        del components["securitySchemes"]
    return document


def _openapi_path(path_format: str) -> str:
    # Starlette's `{name:converter}` is plain `{name}` in the document.
    return re.sub(r"\{([^}:]+)(:[^}]+)?\}", r"{\1}", path_format)


def install_openapi(app: FastAPI) -> None:
    """Serve the contract at `app.openapi_url` (built once, on first request)."""
    generate = app.openapi  # FastAPI's own: builds the document once and keeps it

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document_contract(generate(), app.routes)
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
