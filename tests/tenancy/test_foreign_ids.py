"""Generated from the route table: every route whose path names a workspace's row answers 404
when the row belongs to another workspace, and changes nothing there.

Workspace "Beta" is filled with a row of every kind (the data-port seed, plus an invitation, an
invoice, a payment and an import run through the API); its owner's routes are then called by
the owner of "Alpha", with Beta's ids in the path and the smallest valid generated input. A new
route whose path parameter is neither in `ROW_OF_PARAMETER` nor in `NOT_A_WORKSPACE_ROW` fails
`test_every_path_parameter_is_classified`, so no route escapes the walk.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import Table, select

from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.kit.http.openapi import api_routes
from intuitivus_flow.kit.models import Base
from tests.billing.helpers import pending_invoice_payment
from tests.dataport.support import jsonl, make_zip, owner, seed
from tests.helpers import Account, register, unique_email
from tests.tenancy.test_route_scopes import Operation, key_operations

# Path parameter (and, where a name serves two kinds of rows, the path prefix) -> the table
# whose rows it names.
ROW_OF_PARAMETER: dict[tuple[str, str], str] = {
    ("agent_id", "/api/"): "agents",
    ("task_id", "/api/agents/"): "agent_tasks",
    ("run_id", "/api/agents/"): "crew_runs",
    ("run_id", "/api/data/"): "import_runs",
    ("key_id", "/api/api-keys"): "api_keys",
    ("key_id", "/api/llm/"): "llm_provider_keys",
    ("campaign_id", "/api/"): "campaigns",
    ("step_id", "/api/campaigns/"): "campaign_steps",
    ("contact_id", "/api/"): "contacts",
    ("conversation_id", "/api/"): "conversations",
    ("number_id", "/api/channels/"): "whatsapp_numbers",
    ("member_id", "/api/workspace/"): "users",
    ("invitation_id", "/api/workspace/"): "invitations",
    ("invoice_id", "/api/billing/"): "billing_invoices",
    ("payment_id", "/api/billing/"): "billing_payments",
    ("goal_id", "/api/analytics/"): "kpi_goals",
    ("key_id", "/api/analytics/"): "analytics_write_keys",
}
NOT_A_WORKSPACE_ROW = {
    "name": "a metric's name: instance-wide operations data",
    "silence_id": "silences are instance-wide operations data",
    "platform": "the sender of a billing webhook",
    "widget_key": "a web-chat widget's public key, used by any visitor by design",
    "person_id": "an analytics person (text, not a row): the store scopes it to the workspace",
}
# Routes that reach across workspaces on purpose (docs/ARCHITECTURE.md, "Tenancy").
CROSS_TENANT = {
    "POST /api/billing/operator/payments/{payment_id}/confirm": "operators settle any payment",
    "POST /api/billing/operator/payments/{payment_id}/fail": "operators settle any payment",
}


def _table(path: str, parameter: str) -> str | None:
    matches = [
        (len(prefix), table)
        for (name, prefix), table in ROW_OF_PARAMETER.items()
        if name == parameter and path.startswith(prefix)
    ]
    return max(matches)[1] if matches else None


def _parameters(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def test_every_path_parameter_is_classified(app: Any) -> None:
    unknown = [
        f"{method} {route.path_format}: {{{parameter}}}"
        for route in api_routes(app.routes)
        for method in sorted(route.methods or ())
        for parameter in _parameters(route.path_format)
        if parameter not in NOT_A_WORKSPACE_ROW and _table(route.path_format, parameter) is None
    ]
    assert not unknown, "say which table these parameters name (or why none):\n" + "\n".join(
        unknown
    )


async def _filled_workspace(client: httpx.AsyncClient, app: Any) -> tuple[Account, uuid.UUID]:
    beta = await owner(client, workspace="Beta")
    await seed(app.state.context.sessions, beta.workspace_id, label="b")
    headers = beta.headers
    invited = await client.post(
        "/api/workspace/invitations", json={"email": unique_email()}, headers=headers
    )
    assert invited.status_code == 201, invited.text
    await pending_invoice_payment(client, beta.account)
    goal = {
        "kpi": "revenue",
        "target_change_percent": 20,
        "baseline_start": "2026-01-01",
        "baseline_end": "2026-03-01",
        "due": "2026-06-01",
    }
    created_goal = await client.post("/api/analytics/goals", json=goal, headers=headers)
    assert created_goal.status_code == 201, created_goal.text
    write_key = await client.post(
        "/api/analytics/write-keys", json={"name": "site"}, headers=headers
    )
    assert write_key.status_code == 201, write_key.text
    archive = make_zip({"agents.jsonl": jsonl({"name": "Imported"})})
    queued = await client.post(
        "/api/data/imports", files={"file": ("a.zip", archive, "application/zip")}, headers=headers
    )
    assert queued.status_code == 202, queued.text
    return beta.account, beta.workspace_id


async def _rows_of(app: Any, workspace_id: uuid.UUID) -> dict[str, list[uuid.UUID]]:
    """Every row id of the workspace, by table."""
    rows: dict[str, list[uuid.UUID]] = {}
    async with unit_of_work(app.state.context.sessions) as session:
        for table in Base.metadata.sorted_tables:
            if "workspace_id" in table.columns and "id" in table.columns:
                rows[table.name] = list(await session.scalars(_ids(table, workspace_id)))
    return rows


def _ids(table: Table, workspace_id: uuid.UUID) -> Any:
    return select(table.c.id).where(table.c.workspace_id == workspace_id)


def _foreign_path(operation: Operation, rows: dict[str, list[uuid.UUID]]) -> str | None:
    """The operation's path with the other workspace's ids, or None if it names no row."""
    path = operation.path
    named = False
    for parameter in _parameters(operation.path):
        table = _table(operation.path, parameter)
        if table is None:
            return None
        assert rows.get(table), f"the filled workspace has no row in {table}"
        path = path.replace(f"{{{parameter}}}", str(rows[table][0]))
        named = True
    return path if named else None


async def test_foreign_ids_answer_404_on_every_route(client: httpx.AsyncClient, app: Any) -> None:
    alpha = await register(client, workspace="Alpha")
    _, beta_workspace = await _filled_workspace(client, app)
    rows = await _rows_of(app, beta_workspace)
    before = {table: len(ids) for table, ids in rows.items()}

    walked, wrong = 0, []
    for operation in key_operations(app.openapi()):
        path = _foreign_path(operation, rows)
        if path is None or operation.label in CROSS_TENANT:
            continue
        request = operation.valid_requests(1)[0]
        request["url"] = path
        response = await client.request(operation.method, headers=alpha.headers, **request)
        walked += 1
        if response.status_code != 404:
            wrong.append(f"{operation.label}: {response.status_code} {response.text[:300]}")
    assert not wrong, "routes that did not hide another workspace's row:\n" + "\n".join(wrong)
    assert walked > 40, walked
    after = await _rows_of(app, beta_workspace)
    assert {table: len(ids) for table, ids in after.items()} == before


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"fault_injection": True}
