"""Fault injection for tests and chaos drills: added latency and random 500s on chosen paths.

Active only with `FLOW_FAULT_INJECTION=true`, and refused in production: the app will not
start with both. `PUT /api/ops/faults` sets the plan, `DELETE` clears it. Health, readiness,
metrics and the ops endpoints themselves are never affected, so the drill can always be
observed and stopped. The plan is kept in a file of the data directory, so every worker of
`serve --workers N` on this host follows the same plan (a `stat` per request notices changes).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, Field, field_validator
from starlette.types import ASGIApp, Receive, Scope, Send

from intuitivus_flow.config import ConfigurationError, Settings
from intuitivus_flow.identity.requirements import checked_by_operator_access
from intuitivus_flow.identity.scopes import Scope as ApiScope
from intuitivus_flow.observability.metrics_guard import OpsReadAccess, OpsWriteAccess

EXEMPT_PREFIXES = ("/health", "/ready", "/metrics", "/api/ops")
MAX_LATENCY_MS = 60_000
logger = logging.getLogger(__name__)


def refuse_in_production(settings: Settings) -> None:
    if settings.fault_injection and settings.is_production:
        raise ConfigurationError(
            "FLOW_FAULT_INJECTION=true is refused when FLOW_ENV=production "
            "(fault injection is for tests and drills only); unset it"
        )


class FaultPlan(BaseModel):
    """What to break: every request under `path_prefix` waits `latency_ms`, then fails with a
    500 with probability `error_rate`."""

    latency_ms: Annotated[int, Field(ge=0, le=MAX_LATENCY_MS)] = 0
    error_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    path_prefix: Annotated[str, Field(min_length=1, max_length=200)] = "/"

    @field_validator("path_prefix")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value


PLAN_FILE = "fault-plan.json"


@dataclass(slots=True)
class FaultState:
    # Where the plan is shared between worker processes; None keeps it in this process only.
    path: Path | None = None
    _plan: FaultPlan | None = None
    _seen_mtime: float | None = None
    # Drills need unpredictable-looking failures, not secure randomness.
    rng: random.Random = field(default_factory=random.Random)

    @property
    def plan(self) -> FaultPlan | None:
        if self.path is not None:
            self._reload_if_changed(self.path)
        return self._plan

    @plan.setter
    def plan(self, plan: FaultPlan | None) -> None:
        self._plan = plan
        if self.path is None:
            return
        if plan is None:
            self.path.unlink(missing_ok=True)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(plan.model_dump_json())
            temporary.replace(self.path)  # atomic: other workers never read half a plan
        self._seen_mtime = None

    def _reload_if_changed(self, path: Path) -> None:
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            self._plan, self._seen_mtime = None, None
            return
        if mtime != self._seen_mtime:
            try:
                self._plan = FaultPlan.model_validate_json(path.read_text())
            except (OSError, ValueError):
                logger.warning("unreadable fault plan file %s; ignoring it", path)
                self._plan = None
            self._seen_mtime = mtime

    def applies_to(self, path: str) -> FaultPlan | None:
        plan = self.plan
        if plan is None or _exempt(path) or not path.startswith(plan.path_prefix):
            return None
        return plan

    def should_fail(self, plan: FaultPlan) -> bool:
        return plan.error_rate > 0 and self.rng.random() < plan.error_rate


def _exempt(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in EXEMPT_PREFIXES)


_INJECTED_BODY = json.dumps(
    {
        "type": "/problems/injected-fault",
        "title": "Injected fault",
        "status": 500,
        "detail": "Fault injection is active for this path.",
    }
).encode()


class FaultInjectionMiddleware:
    def __init__(self, app: ASGIApp, *, state: FaultState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        plan = self.state.applies_to(scope["path"]) if scope["type"] == "http" else None
        if plan is None:
            await self.app(scope, receive, send)
            return
        if plan.latency_ms:
            await asyncio.sleep(plan.latency_ms / 1000)
        if self.state.should_fail(plan):
            await _send_injected_error(send)
            return
        await self.app(scope, receive, send)


async def _send_injected_error(send: Send) -> None:
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(_INJECTED_BODY)).encode()),
    ]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": _INJECTED_BODY})


router = APIRouter(prefix="/api/ops/faults", tags=["operations"])


def _state(request: Request) -> FaultState:
    state: FaultState = request.app.state.observability.faults
    return state


@router.get(
    "",
    response_model=FaultPlan | None,
    summary="Current fault plan",
    dependencies=[checked_by_operator_access(ApiScope.operations_read), OpsReadAccess],
)
async def get_faults(request: Request) -> FaultPlan | None:
    """The plan in force in this process, or null."""
    return _state(request).plan


@router.put(
    "",
    response_model=FaultPlan,
    summary="Inject faults",
    dependencies=[checked_by_operator_access(ApiScope.operations_write), OpsWriteAccess],
)
async def put_faults(plan: FaultPlan, request: Request) -> FaultPlan:
    """Replace the plan: latency and/or a 500 rate on every path under `path_prefix`.
    An owner of an operator workspace, or the metrics token."""
    _state(request).plan = plan
    logger.warning("fault injection set: %s", plan.model_dump())
    return plan


@router.delete(
    "",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Stop injecting faults",
    dependencies=[checked_by_operator_access(ApiScope.operations_write), OpsWriteAccess],
)
async def delete_faults(request: Request) -> None:
    """Clear the plan; requests behave normally again."""
    _state(request).plan = None
    logger.warning("fault injection cleared")
