"""Instance-wide operations data is for the instance's operators, not every customer's admin."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.helpers import assert_problem, me, register

SERIES = "/api/metrics/cpu_usage_percent/series"


async def test_outside_production_any_admin_reads(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    assert (await client.get(SERIES, headers=owner.headers)).status_code == 200


class TestOperatorWorkspaces:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"operator_workspaces": [uuid.UUID(int=1)]}

    async def test_admins_of_other_workspaces_are_refused(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        customer = await register(client)
        assert_problem(await client.get(SERIES, headers=customer.headers), 403)
        workspace_id = uuid.UUID((await me(client, customer.headers))["workspace"]["id"])
        app.state.context.settings.operator_workspaces.append(workspace_id)
        assert (await client.get(SERIES, headers=customer.headers)).status_code == 200


def test_production_without_operators_refuses_people() -> None:
    from intuitivus_flow.auth.principal import Principal
    from intuitivus_flow.auth.scopes import ROLE_SCOPES
    from intuitivus_flow.config import Settings
    from intuitivus_flow.kit.errors import Forbidden
    from intuitivus_flow.metrics_history.access import require_operator_role
    from intuitivus_flow.users.models import Role

    owner = Principal(workspace_id=uuid.uuid4(), role=Role.owner, scopes=ROLE_SCOPES[Role.owner])
    settings = Settings(env="production", secret_key="x" * 48)
    with pytest.raises(Forbidden, match="FLOW_OPERATOR_WORKSPACES"):
        require_operator_role(owner, settings)
    allowed = Settings(
        env="production", secret_key="x" * 48, operator_workspaces=[owner.workspace_id]
    )
    require_operator_role(owner, allowed)
