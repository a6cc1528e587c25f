"""The workspace overview behind `GET /api/dashboard`, the product's hottest read.

It is cached per workspace and keyed by the workspace's data version (kit/cache.py): any
committed write to the workspace makes the next read recompute, so the cache never serves a
figure older than the last write, and a TTL bounds anything written outside the ORM.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from intuitivus_flow.dashboard.activity import describe
from intuitivus_flow.dashboard.repository import FINISHED_FAILED, FINISHED_OK, DashboardQueries
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.cache import Cache, cached
from intuitivus_flow.kit.db import LazyUnitOfWork
from intuitivus_flow.kit.models import utcnow

CACHE_TTL_SECONDS = 60
RECENT_ACTIVITY = 10


async def overview(
    work: LazyUnitOfWork, principal: Principal, *, cache: Cache, refresh: bool = False
) -> tuple[dict[str, Any], bool]:
    """The dashboard as plain data, and whether it came from the cache (`refresh` skips it).
    The request's session is constructed only when the dashboard is computed."""
    principal.require_scope(Scope.workspace_read)
    return await cached(
        cache,
        principal.workspace_id,
        "dashboard",
        lambda: compute(DashboardQueries(work.session, principal.workspace_id)),
        ttl_seconds=CACHE_TTL_SECONDS,
        refresh=refresh,
        info=work.info,  # the version authentication read along (one round trip)
    )


async def compute(queries: DashboardQueries) -> dict[str, Any]:
    now = utcnow()
    recent = await queries.recent_events(RECENT_ACTIVITY)
    names = await queries.names_for(recent)
    return {
        "generated_at": now.isoformat(),
        "agents_by_status": await queries.agents_by_status(),
        "tasks_last_24h": _task_summary(await queries.tasks_since(now - timedelta(hours=24))),
        "llm_this_month": [
            {"provider": provider, "calls": calls, "tokens": tokens, "cost_micros": cost}
            for provider, calls, tokens, cost in await queries.llm_by_provider(_month_start(now))
        ],
        "conversations_by_state": await queries.conversations_by_state(),
        "campaigns_by_platform": [
            {
                "platform": platform,
                "currency": currency,
                "campaigns": count,
                "spend_minor": spend,
                "revenue_minor": revenue,
                # Return on ad spend; undefined (null) until something was spent.
                "roas": round(revenue / spend, 4) if spend else None,
            }
            for platform, currency, count, spend, revenue in await queries.campaigns_by_platform()
        ],
        "revenue_this_month": [
            {"currency": currency, "payments": count, "amount_minor": amount}
            for currency, count, amount in await queries.revenue_since(_month_start(now))
        ],
        "recent_activity": [
            {
                "name": e.name,
                "sentence": describe(
                    e.name,
                    e.properties,
                    user_id=str(e.user_id) if e.user_id else None,
                    names=names,
                ),
                "source": e.source,
                "occurred_at": e.occurred_at.isoformat(),
                "properties": e.properties,
            }
            for e in recent
        ],
    }


def _task_summary(by_status: dict[str, int]) -> dict[str, Any]:
    succeeded, failed = by_status.get(FINISHED_OK, 0), by_status.get(FINISHED_FAILED, 0)
    total = sum(by_status.values())
    finished = succeeded + failed
    return {
        "total": total,
        "succeeded": succeeded,
        "failed": failed,
        "in_progress": total - finished - by_status.get("cancelled", 0),
        "success_rate": round(succeeded / finished, 4) if finished else None,
    }


def _month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
