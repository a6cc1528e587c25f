"""The plan's scenario: signed-in people watching their workspace overview.

Users share a pool of seeded sessions (round-robin over workspaces and sessions) rather than
each signing in: the figure measured is the dashboard under load, not 1000 password hashes.
"""

from __future__ import annotations

from loadtests.common.auth import Credentials
from loadtests.common.run import current_run
from loadtests.common.user import OpenModelUser, json_has

_pool: list[Credentials] = []


def _credentials(index: int) -> Credentials:
    if not _pool:
        # Interleave workspaces so consecutive users land in different ones.
        seed = current_run().seed
        depth = max(len(workspace.sessions) for workspace in seed.workspaces)
        _pool.extend(
            Credentials(workspace.sessions[i])
            for i in range(depth)
            for workspace in seed.workspaces
            if i < len(workspace.sessions)
        )
    return _pool[index % len(_pool)]


class DashboardUser(OpenModelUser):
    abstract = True  # locustfile.py binds the one scenario a run uses

    def on_start(self) -> None:
        super().on_start()
        self.credentials = _credentials(current_run().next_index())

    def dashboard(self) -> None:
        self.call(
            "GET",
            "/api/dashboard",
            name="GET /api/dashboard",
            headers=self.credentials.headers(self.client),
            check=json_has("generated_at", "agents_by_status", "conversations_by_state"),
        )

    tasks = [dashboard]
