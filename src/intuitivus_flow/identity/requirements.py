"""Scopes declared per route: checked before the handler runs and shown in the OpenAPI document.

`@router.get(..., dependencies=[requires(Scope.campaigns_read)])` refuses a credential without
the scope (403) before the request reaches the service, and `kit/http/openapi.py` lists the
scope in the operation's `security` and `x-required-scopes`. The services keep their own
`principal.require_scope` checks: they are also called by jobs, the CLI and the web pages,
which never pass through a route (defence in depth; docs/ARCHITECTURE.md, "API contract").
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends

from intuitivus_flow.identity.http import CurrentPrincipal
from intuitivus_flow.identity.scopes import Scope


class ScopeRequirement:
    """A route dependency that needs every one of `scopes` (`ScopeDeclaration` in kit)."""

    def __init__(self, *scopes: Scope) -> None:
        self.scopes = scopes
        self.required_scopes = tuple(scope.value for scope in scopes)

    async def __call__(self, principal: CurrentPrincipal) -> None:
        for scope in self.scopes:
            principal.require_scope(scope)


class OperatorScopes:
    """Declares the scopes of a route whose own dependency authorises it (the operator routes
    also accept the metrics token, which has no principal to hold a scope)."""

    def __init__(self, *scopes: Scope) -> None:
        self.required_scopes = tuple(scope.value for scope in scopes)

    async def __call__(self) -> None:
        """The route's operator dependency has checked the scopes already."""


def requires(*scopes: Scope) -> Any:
    """`dependencies=[requires(Scope.x)]`: the credential must hold every scope given."""
    return Depends(ScopeRequirement(*scopes))


def checked_by_operator_access(*scopes: Scope) -> Any:
    """`dependencies=[checked_by_operator_access(Scope.operations_read)]` on operator routes."""
    return Depends(OperatorScopes(*scopes))
