"""Every response an API test receives is held to the OpenAPI document: its status must be one
the operation documents (kit/http/openapi.py derives them; there is no catch-all `default`).

The `client` fixture installs `check_documented_status` as an httpx response hook, so each
test of the suite is also a contract test: a route that answers a status it does not document
(a domain error it does not declare with `route_errors(...)`) fails the test that provoked it.
Server errors are left to the tests' own assertions and the fuzzer.
"""

from __future__ import annotations

from typing import Any

import httpx
from starlette.routing import Match

from intuitivus_flow.kit.http.openapi import api_routes


class UndocumentedStatus(AssertionError):
    pass


def _operation(app: Any, method: str, path: str) -> dict[str, Any] | None:
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    for route in api_routes(app.routes):
        match, _ = route.matches(scope)
        if match is Match.FULL:
            item = app.openapi()["paths"].get(_template(route.path_format), {})
            operation: dict[str, Any] | None = item.get(method.lower())
            return operation
    return None  # not an API route (pages, static files, unknown paths)


def _template(path_format: str) -> str:
    return "/".join(
        part.split(":")[0] + "}" if part.startswith("{") and ":" in part else part
        for part in path_format.split("/")
    )


def undocumented_status(app: Any, method: str, path: str, status: int) -> str | None:
    """Why `status` breaks the contract of `method path`, or None when it is documented."""
    if status >= 500:
        return None
    operation = _operation(app, method, path)
    if operation is None:
        return None
    documented = set(operation["responses"])
    if str(status) in documented or f"{str(status)[0]}XX" in documented:
        return None
    return (
        f"{method} {path} answered {status}, which {operation['operationId']} does not document "
        f"({', '.join(sorted(documented))}); declare the error on the route with route_errors()"
    )


def status_hook(app: Any) -> Any:
    async def check_documented_status(response: httpx.Response) -> None:
        request = response.request
        problem = undocumented_status(app, request.method, request.url.path, response.status_code)
        if problem:
            raise UndocumentedStatus(problem)

    return check_documented_status
