from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from intuitivus_flow.health import service as health
from intuitivus_flow.kit.http.deps import Context

router = APIRouter(tags=["health"])


class Readiness(BaseModel):
    """The body of both answers of `/ready`: 200 when every component passed, else 503."""

    status: Literal["ready", "unavailable"]
    # Per component: `status` ("ok" or "fail"), `latency_ms`, and what failed when it did.
    components: dict[str, dict[str, Any]]


@router.get("/health", summary="Liveness")
async def liveness() -> dict[str, str]:
    """The process is up and serving. Touches nothing else, so it stays cheap."""
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Readiness",
    response_model=Readiness,
    responses={
        503: {"model": Readiness, "description": "A component failed or timed out."},
    },
)
async def readiness(context: Context) -> JSONResponse:
    """Ready to take traffic: database reachable, migrations current, Redis reachable when
    configured. 200 when all pass, 503 otherwise, with one entry per component."""
    checks = [
        await health.check_database(context.engine),
        await health.check_migrations(context.engine),
    ]
    if context.redis is not None:
        checks.append(await health.check_redis(context.redis))
    ready = all(check.ok for check in checks)
    body = {
        "status": "ready" if ready else "unavailable",
        "components": {
            check.name: {
                "status": "ok" if check.ok else "fail",
                "latency_ms": check.latency_ms,
                **check.detail,
            }
            for check in checks
        },
    }
    return JSONResponse(body, status_code=200 if ready else 503)
