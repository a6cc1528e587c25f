"""Instance-wide operations data is for the instance's operators, not every customer's admin.

Operators are the owners/admins of FLOW_OPERATOR_WORKSPACES, else of the first workspace
created on the instance, in every environment; API keys also need the operations scopes.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.helpers import Account, assert_problem, invite_and_join, me, register

SERIES = "/api/metrics/cpu_usage_percent/series"
SILENCES = "/api/alerts/silences"
SILENCE_EVERYTHING = {
    "matchers": [{"name": "alertname", "op": "=~", "value": ".*"}],
    "duration_minutes": 60,
    "comment": "quiet",
}


async def key_headers(client: httpx.AsyncClient, owner: Account, scopes: list[str]) -> Any:
    created = await client.post(
        "/api/api-keys", json={"name": "ops", "scopes": scopes}, headers=owner.headers
    )
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['key']}"}


class TestFirstWorkspaceOperates:
    async def test_its_owners_and_admins_read_and_silence(self, client: httpx.AsyncClient) -> None:
        operator = await register(client, workspace="Operators")
        admin = await invite_and_join(client, operator, role="admin")
        for account in (operator, admin):
            assert (await client.get(SERIES, headers=account.headers)).status_code == 200
        created = await client.post(SILENCES, json=SILENCE_EVERYTHING, headers=admin.headers)
        assert created.status_code == 201, created.text

    async def test_its_members_are_refused(self, client: httpx.AsyncClient) -> None:
        operator = await register(client, workspace="Operators")
        member = await invite_and_join(client, operator, role="member")
        assert_problem(await client.get(SERIES, headers=member.headers), 403)

    async def test_other_workspaces_admins_are_refused(self, client: httpx.AsyncClient) -> None:
        operator = await register(client, workspace="Operators")
        customer = await register(client, workspace="Customer")
        assert_problem(await client.get(SERIES, headers=customer.headers), 403)
        assert_problem(await client.get("/api/alerts", headers=customer.headers), 403)
        refused = await client.post(SILENCES, json=SILENCE_EVERYTHING, headers=customer.headers)
        assert_problem(refused, 403)
        silence = await client.post(SILENCES, json=SILENCE_EVERYTHING, headers=operator.headers)
        expired = await client.delete(
            f"{SILENCES}/{silence.json()['id']}", headers=customer.headers
        )
        assert_problem(expired, 403)


class TestApiKeysNeedOperationsScopes:
    async def test_a_key_for_other_work_cannot_silence_or_read(
        self, client: httpx.AsyncClient
    ) -> None:
        operator = await register(client, workspace="Operators")
        unrelated = await key_headers(client, operator, ["agents:read"])
        refused = await client.post(SILENCES, json=SILENCE_EVERYTHING, headers=unrelated)
        assert_problem(refused, 403)
        assert_problem(await client.get(SERIES, headers=unrelated), 403)
        assert_problem(await client.get("/api/predictive/models", headers=unrelated), 403)

    async def test_read_scope_reads_write_scope_silences(self, client: httpx.AsyncClient) -> None:
        operator = await register(client, workspace="Operators")
        reader = await key_headers(client, operator, ["operations:read"])
        writer = await key_headers(client, operator, ["operations:write"])
        assert (await client.get(SERIES, headers=reader)).status_code == 200
        assert_problem(await client.post(SILENCES, json=SILENCE_EVERYTHING, headers=reader), 403)
        created = await client.post(SILENCES, json=SILENCE_EVERYTHING, headers=writer)
        assert created.status_code == 201, created.text
        assert created.json()["created_by"].startswith("api-key:")

    async def test_members_cannot_grant_operations_scopes(self, client: httpx.AsyncClient) -> None:
        operator = await register(client, workspace="Operators")
        admin = await invite_and_join(client, operator, role="admin")
        key = await key_headers(client, admin, ["operations:write"])
        admin_id = str((await me(client, admin.headers))["id"])
        demoted = await client.put(
            f"/api/workspace/members/{admin_id}/role",
            json={"role": "member"},
            headers=operator.headers,
        )
        assert demoted.status_code == 200, demoted.text
        assert_problem(await client.post(SILENCES, json=SILENCE_EVERYTHING, headers=key), 403)


class TestOperatorWorkspacesSetting:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"operator_workspaces": [uuid.UUID(int=1)]}

    async def test_the_setting_replaces_the_first_workspace(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        first = await register(client)
        assert_problem(await client.get(SERIES, headers=first.headers), 403)
        workspace_id = uuid.UUID((await me(client, first.headers))["workspace"]["id"])
        app.state.context.settings.operator_workspaces.append(workspace_id)
        assert (await client.get(SERIES, headers=first.headers)).status_code == 200


async def test_an_instance_without_workspaces_has_no_operators(app: Any) -> None:
    from intuitivus_flow.auth.operators import operator_workspace_ids

    async with app.state.context.sessions() as session:
        assert await operator_workspace_ids(session, app.state.context.settings) == frozenset()
