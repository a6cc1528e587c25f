from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Response

from intuitivus_flow.dashboard import schemas
from intuitivus_flow.dashboard import service as dashboard
from intuitivus_flow.identity.http import CurrentPrincipal
from intuitivus_flow.identity.requirements import requires
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.http.deps import Context, Work

router = APIRouter(prefix="/api/dashboard", tags=["dashboard"])


@router.get(
    "",
    dependencies=[requires(Scope.workspace_read)],
    response_model=schemas.Dashboard,
    summary="Workspace overview",
)
async def get_dashboard(
    work: Work,
    principal: CurrentPrincipal,
    context: Context,
    response: Response,
    cache_control: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Agents by status, tasks in the last 24 h with success rate, LLM tokens and cost this
    month by provider, open and escalated conversations, campaigns by platform with spend and
    ROAS, revenue this month, and recent activity. Cached per workspace and invalidated by any write
    to it (`X-Cache: hit|miss`); `Cache-Control: no-cache` recomputes."""
    refresh = "no-cache" in (cache_control or "").lower()
    data, hit = await dashboard.overview(work, principal, cache=context.cache, refresh=refresh)
    response.headers["X-Cache"] = "hit" if hit else "miss"
    return data
