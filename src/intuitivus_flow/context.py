"""Composition root: the app context, kit's resources plus the domains' runtime state.

Built once per process (`create_app`, the worker, CLI commands) and closed at shutdown. It sits
above every domain, so it may import them; no domain imports it (routes read kit's
`Resources` through `kit.http.deps.Context`, authentication reads the auth part through
`auth.deps`).
"""

from __future__ import annotations

from dataclasses import dataclass

from intuitivus_flow.auth.policy import AuthPolicy
from intuitivus_flow.config import Settings
from intuitivus_flow.kit.resources import Resources


@dataclass(slots=True)
class AppContext(Resources):
    auth: AuthPolicy

    @classmethod
    def build(cls, settings: Settings) -> AppContext:
        resources = Resources.open(settings)
        return cls(
            **resources.parts(),
            auth=AuthPolicy.from_settings(settings, resources.counters),
        )
