"""Composition root: the app context, kit's resources plus the domains' runtime state.

Built once per process (`create_app`, the worker, CLI commands) and closed at shutdown. It sits
above every domain, so it may import them; no domain imports it (routes read kit's
`Resources` through `kit.http.deps.Context`, authentication reads the auth part through
`auth.deps`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

from sqlalchemy.engine import make_url

from intuitivus_flow.agents.service import count_agents
from intuitivus_flow.auth.policy import AuthPolicy
from intuitivus_flow.auth.principal_cache import (
    PrincipalCache,
    build_principal_cache,
    bump_after_commit,
)
from intuitivus_flow.billing.plans import Limit
from intuitivus_flow.billing.service import Counter
from intuitivus_flow.config import Settings
from intuitivus_flow.conversations.live import LiveHub
from intuitivus_flow.kit.cache import RedisCache
from intuitivus_flow.kit.db import on_commit_info
from intuitivus_flow.kit.resources import Resources
from intuitivus_flow.performance.database.slowlog import install_slow_log
from intuitivus_flow.users.service import count_active_members


@dataclass(slots=True)
class AppContext(Resources):
    auth: AuthPolicy
    # How billing's usage view counts what the plan limits; the owning domains count.
    usage_counters: Mapping[Limit, Counter]
    # Who holds a credential, reused until a revocation touches its workspace.
    principals: PrincipalCache
    # The live inbox's streams and the way committed conversation changes reach them.
    live: LiveHub

    @classmethod
    def build(cls, settings: Settings) -> AppContext:
        resources = Resources.open(settings)
        principals = build_principal_cache(
            resources.redis,
            ttl_seconds=settings.principal_cache_seconds,
            single_process=_serves_alone(settings),
            # One MGET per request then reads the auth versions and the view-cache version.
            views=resources.cache if isinstance(resources.cache, RedisCache) else None,
        )
        on_commit_info(resources.sessions, partial(bump_after_commit, principals))
        live = LiveHub(resources.redis)
        on_commit_info(resources.sessions, live.publish_after_commit)
        if resources.engine.dialect.name == "sqlite":
            # SQLite has no pg_stat_statements: the engine keeps its own slow statements for
            # `perf analyze` and the Performance page (performance/database/slowlog.py).
            install_slow_log(resources.engine)
        return cls(
            **resources.parts(),
            auth=AuthPolicy.from_settings(settings, resources.counters),
            usage_counters={Limit.agents: count_agents, Limit.members: count_active_members},
            principals=principals,
            live=live,
        )


def _serves_alone(settings: Settings) -> bool:
    """One process over an embedded database: nothing else can revoke behind its back. A
    PostgreSQL instance without Redis may have siblings, which in-process state cannot see."""
    backend = make_url(settings.resolved_database_url).get_backend_name()
    return backend == "sqlite" and settings.serving_processes == 1
