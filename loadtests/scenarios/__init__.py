"""The scenarios a run can use, by name. Each is an abstract user class; `locustfile.py` binds
the chosen one so Locust runs exactly one."""

from __future__ import annotations

from loadtests.common.user import OpenModelUser
from loadtests.scenarios.dashboard import DashboardUser
from loadtests.scenarios.mix import MixUser

SCENARIOS: dict[str, type[OpenModelUser]] = {"dashboard": DashboardUser, "mix": MixUser}
