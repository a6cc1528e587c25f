"""One-step edits through the API, on both engines: step ids never change, a one-step edit
writes that step (and the positions it shifts) under one lock of the campaign, stale edits
get 409 by `steps_version`, a step a branch continues at is not deleted, and a running
campaign whose steps are edited goes on exactly once per (step, contact)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import event, select
from sqlalchemy.engine import Connection

from intuitivus_flow.campaigns.automation import service as automation
from intuitivus_flow.campaigns.automation.schemas import StepSpecs
from intuitivus_flow.campaigns.models import Campaign, CampaignStepDelivery
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.roles import Role
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.db import unit_of_work
from tests.campaigns.fakes import InMemorySender
from tests.campaigns.helpers import create_campaign
from tests.campaigns.test_automation import (
    TEMPLATE,
    automated_campaign,
    drain,
    fast_forward,
    labelled,
    run,
    sessions_of,
    steps,
    workers,
)
from tests.dataport.test_import import export, upload
from tests.helpers import Account, assert_problem, register

WAIT = {"kind": "wait", "seconds": 600}


async def add(
    client: httpx.AsyncClient, owner: Account, cid: str, step: dict[str, Any], **extra: Any
) -> httpx.Response:
    return await client.post(
        f"/api/campaigns/{cid}/steps", json={"step": step, **extra}, headers=owner.headers
    )


def templates(listed: list[dict[str, Any]]) -> list[object]:
    return [step["config"].get("template", step["kind"]) for step in listed]


async def version_of(client: httpx.AsyncClient, owner: Account, cid: str) -> int:
    campaign = (await client.get(f"/api/campaigns/{cid}", headers=owner.headers)).json()
    return int(campaign["steps_version"])


async def test_add_update_move_delete_keep_ids(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    cid = str((await create_campaign(client, owner))["id"])
    url = f"/api/campaigns/{cid}/steps"
    a = (await add(client, owner, cid, {**TEMPLATE, "template": "a"})).json()
    c = (await add(client, owner, cid, {**TEMPLATE, "template": "c"})).json()
    created = await add(client, owner, cid, {**TEMPLATE, "template": "b"}, position=2)
    assert created.status_code == 201, created.text
    b = created.json()
    assert b["position"] == 2
    listed = await steps(client, owner, cid)
    assert [step["id"] for step in listed] == [a["id"], b["id"], c["id"]]

    branch = {"kind": "branch", "on": "reply", "if_true": c["id"], "if_false": None}
    placed = await add(client, owner, cid, branch, position=1)
    assert placed.json()["config"]["if_true"] == c["id"]
    changed = await client.patch(
        f"{url}/{a['id']}", json={"step": {**TEMPLATE, "template": "A"}}, headers=owner.headers
    )
    assert (changed.status_code, changed.json()["id"]) == (200, a["id"])
    moved = await client.put(
        f"{url}/{c['id']}/position", json={"position": 2}, headers=owner.headers
    )
    assert moved.status_code == 200, moved.text
    assert templates(moved.json()) == ["branch", "c", "A", "b"]
    assert [step["id"] for step in moved.json()][1:] == [c["id"], a["id"], b["id"]]

    deleted = await client.delete(f"{url}/{a['id']}", headers=owner.headers)
    assert deleted.status_code == 204
    listed = await steps(client, owner, cid)
    assert [(step["position"], step["id"]) for step in listed[1:]] == [(2, c["id"]), (3, b["id"])]
    assert await version_of(client, owner, cid) == 7  # one per edit


async def test_refusals(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    cid = str((await create_campaign(client, owner))["id"])
    url = f"/api/campaigns/{cid}/steps"
    first = (await add(client, owner, cid, TEMPLATE)).json()
    branch = {"kind": "branch", "on": "reply", "if_true": first["id"]}
    backwards = await add(client, owner, cid, branch)
    assert assert_problem(backwards, 422)["field"] == "if_true"
    elsewhere = await add(client, owner, cid, {**branch, "if_true": str(uuid.uuid4())})
    assert "of this campaign" in assert_problem(elsewhere, 422)["detail"]
    branch_step = (await add(client, owner, cid, {**branch, "if_true": None}, position=1)).json()
    await client.patch(
        f"{url}/{branch_step['id']}",
        json={"step": {**branch, "if_false": first["id"]}},
        headers=owner.headers,
    )

    in_use = await client.delete(f"{url}/{first['id']}", headers=owner.headers)
    problem = assert_problem(in_use, 409)
    assert problem["detail"].startswith("Step 1 (a branch) continues at this step")
    assert problem["errors"][0]["field"] == f"steps.{branch_step['id']}"
    breaking = await client.put(
        f"{url}/{first['id']}/position", json={"position": 1}, headers=owner.headers
    )
    problem = assert_problem(breaking, 422)
    assert problem["detail"].startswith("The branch at step 2 would then continue at an earlier")
    assert [error["field"] for error in problem["errors"]] == [
        f"steps.{branch_step['id']}.if_true",
        f"steps.{branch_step['id']}.if_false",
    ]
    other_kind = await client.patch(
        f"{url}/{first['id']}", json={"step": WAIT}, headers=owner.headers
    )
    assert "keeps its kind" in assert_problem(other_kind, 422)["detail"]
    outside = await add(client, owner, cid, WAIT, position=9)
    assert assert_problem(outside, 422)["field"] == "position"

    seen = await version_of(client, owner, cid)
    assert (await add(client, owner, cid, WAIT, version=seen)).status_code == 201
    stale = await client.delete(f"{url}/{first['id']}?version={seen}", headers=owner.headers)
    assert "changed since" in assert_problem(stale, 409)["detail"]
    stale_move = await client.put(
        f"{url}/{first['id']}/position",
        json={"position": 3, "version": seen},
        headers=owner.headers,
    )
    assert_problem(stale_move, 409)

    unknown = await client.patch(
        f"{url}/{uuid.uuid4()}", json={"step": WAIT}, headers=owner.headers
    )
    assert_problem(unknown, 404)
    stranger = await register(client, email="stranger@example.com")
    foreign = await client.delete(f"{url}/{first['id']}", headers=stranger.headers)
    assert_problem(foreign, 404)


async def test_a_one_step_edit_writes_one_row_under_one_lock(
    client: httpx.AsyncClient, app: Any
) -> None:
    """Measured on the statements sent: the edit locks the campaign once and writes the one
    step (inserting at the end shifts nothing); the other steps' rows are not touched."""
    owner = await register(client)
    cid = str((await create_campaign(client, owner))["id"])
    for name in ("a", "b", "c", "d"):
        await add(client, owner, cid, {**TEMPLATE, "template": name})
    ids = [step["id"] for step in await steps(client, owner, cid)]
    context = app.state.context
    statements: list[str] = []

    def seen(conn: Connection, cursor: Any, sql: str, *args: Any) -> None:
        statements.append(" ".join(sql.split()).upper())

    engine = context.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        async with unit_of_work(context.sessions) as session:
            campaign = await session.get(Campaign, uuid.UUID(cid))
            assert campaign is not None
            principal = Principal(
                workspace_id=campaign.workspace_id, role=Role.owner, scopes=frozenset(Scope)
            )
            statements.clear()
            (spec,) = StepSpecs.validate_python([{**TEMPLATE, "template": "e"}])
            await automation.update_step(
                session, principal, uuid.UUID(cid), uuid.UUID(ids[1]), spec=spec
            )
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    writes = [sql for sql in statements if sql.split()[0] in {"INSERT", "UPDATE", "DELETE"}]
    step_writes = [sql for sql in writes if "CAMPAIGN_STEPS" in sql]
    assert len(step_writes) == 1
    assert step_writes[0].startswith("UPDATE CAMPAIGN_STEPS")
    locks = [sql for sql in statements if "FOR UPDATE" in sql]
    assert len(locks) <= 1  # PostgreSQL: one FOR UPDATE; SQLite has no row locks
    assert [step["id"] for step in await steps(client, owner, cid)] == ids


async def test_a_running_campaign_edited_mid_journey_goes_on_exactly_once(
    client: httpx.AsyncClient, app: Any
) -> None:
    owner = await register(client)
    audience = [uuid.uuid4() for _ in range(3)]
    sender = InMemorySender(segment=audience)
    cid = await automated_campaign(
        client, owner, [{**TEMPLATE, "template": "hello"}, WAIT, {**TEMPLATE, "template": "offer"}]
    )
    await run(client, owner, cid)
    pool = workers(app, sender, count=2)
    await drain(app, pool)  # "hello" sent; everyone waits ten minutes for "offer"
    hello, wait, offer = await steps(client, owner, cid)
    url = f"/api/campaigns/{cid}/steps"

    # While they wait: the waited-for step changes, a step goes in before it and one at the end.
    changed = await client.patch(
        f"{url}/{offer['id']}",
        json={"step": {**TEMPLATE, "template": "better offer"}},
        headers=owner.headers,
    )
    assert changed.status_code == 200
    await add(client, owner, cid, {**TEMPLATE, "template": "skipped by them"}, position=3)
    await add(client, owner, cid, {**TEMPLATE, "template": "thanks"})
    # Steps they went through or are waiting for stay.
    for step in (hello, wait, offer):
        assert_problem(await client.delete(f"{url}/{step['id']}", headers=owner.headers), 409)

    await fast_forward(app)
    await drain(app, pool)
    for contact in audience:
        sent = [getattr(message, "template", None) for message in sender.sends_to(contact)]
        # The waited-for step by its id, then the step after it as the list is now.
        assert sent == ["hello", "better offer", "thanks"]
    async with sessions_of(app)() as session:
        rows = (await session.scalars(select(CampaignStepDelivery))).all()
    assert len(rows) == len({(row.step_id, row.contact_id) for row in rows}) == 4 * 3
    listed = await steps(client, owner, cid)
    assert [step["deliveries"] for step in listed] == [3, 3, 0, 3, 3]

    # Running again enrols nobody new and sends nothing twice.
    await run(client, owner, cid)
    await drain(app, pool)
    assert len(sender.delivered) == 9


async def test_branches_survive_an_export_and_import(client: httpx.AsyncClient) -> None:
    """The import gives every step a new id; a branch, written before the later step it names
    (the file is in creation order), is rewritten to that step's new id."""
    source = await register(client)
    cid = str((await create_campaign(client, source))["id"])
    branch = {"kind": "branch", "on": "reply", "if_true": 3, "if_false": 2}
    listed = await client.put(
        f"/api/campaigns/{cid}/steps",
        json={"steps": labelled([branch, WAIT, TEMPLATE])},
        headers=source.headers,
    )
    assert listed.status_code == 200, listed.text
    archive = await export(client, source.headers)

    target = await register(client, email="copy@example.com")
    imported = await upload(client, target.headers, archive)
    assert imported.status_code == 200, imported.text
    (campaign,) = (await client.get("/api/campaigns", headers=target.headers)).json()["items"]
    copied = await steps(client, target, campaign["id"])
    assert [step["kind"] for step in copied] == ["branch", "wait", "send_template"]
    assert not {step["id"] for step in copied} & {step["id"] for step in listed.json()}
    assert copied[0]["config"]["if_true"] == copied[2]["id"]
    assert copied[0]["config"]["if_false"] == copied[1]["id"]
