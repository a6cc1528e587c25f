"""Exports: content and format (JSON Lines zip, CSV zip, one entity), streaming in pages, no
secrets, only the caller's workspace, admins and owners only. Both engines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select
from tests.conversations.graph_server import RunningGraph, serve_graph
from tests.dataport.support import (
    SECRETS,
    SEEDED,
    csv_rows,
    jsonl_rows,
    owner,
    read_zip,
    seed,
)
from tests.helpers import assert_problem, invite_and_join

from intuitivus_flow.conversations.models import WhatsAppNumber
from intuitivus_flow.dataport import service as dataport
from intuitivus_flow.dataport.registry import BY_NAME, ENTITIES, REFERENCED
from intuitivus_flow.dataport.schemas import ExportFormat
from intuitivus_flow.kit.db import unit_of_work


@pytest.fixture(scope="module")
def graph() -> Iterator[RunningGraph]:
    """Meta's Graph API (fake): connecting a number asks it whether the token owns it."""
    yield from serve_graph()


@pytest.fixture
def settings_overrides(graph: RunningGraph) -> dict[str, Any]:
    return {"whatsapp_graph_url": graph.url}


async def test_jsonl_zip_holds_a_manifest_and_every_entity(
    app: Any, client: httpx.AsyncClient
) -> None:
    acme = await owner(client)
    await seed(app.state.context.sessions, acme.workspace_id)
    response = await client.get("/api/data/export", headers=acme.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"].startswith('attachment; filename="workspace-')
    files = read_zip(response.content)
    assert set(files) == {"manifest.json"} | {f"{spec.name}.jsonl" for spec in ENTITIES}
    manifest = json.loads(files["manifest.json"])
    assert manifest["format_version"] == 1
    assert manifest["exported_at"]
    for name, count in SEEDED.items():
        assert manifest["entities"][name] == count == len(jsonl_rows(files, name))
    # registration events + the two seeded ones + this export's own data.exported
    assert manifest["entities"]["events"] == len(jsonl_rows(files, "events"))
    agents = jsonl_rows(files, "agents")
    assert [agent["name"] for agent in agents] == ["Closer", "Helper"]  # (created_at, id) order
    assert set(agents[0]) == set(BY_NAME["agents"].fields)
    assert agents[0]["temperature"] == 0.25
    assert agents[0]["created_at"].startswith("2026-01-05T09:00:00")
    contact = jsonl_rows(files, "contacts")[0]
    assert contact["attributes"] == {"plan": "gold", "vip": True}
    steps = jsonl_rows(files, "campaign_steps")
    assert steps[0]["config"]["parameters"] == ["Ana"]
    names = [row["name"] for row in jsonl_rows(files, "events")]
    assert "data.exported" in names


async def test_exports_never_hold_secrets_or_workspace_ids(
    app: Any, client: httpx.AsyncClient
) -> None:
    acme = await owner(client)
    sessions = app.state.context.sessions
    await seed(sessions, acme.workspace_id)
    for export_format in ("jsonl", "csv"):
        response = await client.get(
            "/api/data/export", params={"format": export_format}, headers=acme.headers
        )
        files = read_zip(response.content)
        blob = b"".join(data for name, data in files.items() if name != "manifest.json").decode()
        for secret in SECRETS:
            assert secret not in blob
        assert "workspace_id" not in blob  # rows never say whose they were (the manifest does)
        assert "password" not in blob
        assert "key_hash" not in blob
    for spec in ENTITIES:  # the registry itself lists no secret-looking column
        for name in spec.fields:
            secretish = ("secret", "hash", "digest", "encrypted", "password", "hint")
            assert not any(word in name for word in secretish), name
            assert not name.endswith("_token"), name
            assert "api_key" not in name, name


async def test_csv_zip_and_one_entity_csv(app: Any, client: httpx.AsyncClient) -> None:
    acme = await owner(client)
    await seed(app.state.context.sessions, acme.workspace_id)
    zipped = await client.get("/api/data/export?format=csv", headers=acme.headers)
    files = read_zip(zipped.content)
    assert {f"{spec.name}.csv" for spec in ENTITIES} <= set(files)
    assert json.loads(files["manifest.json"])["file_format"] == "csv"
    one = await client.get("/api/data/export?format=csv&entity=contacts", headers=acme.headers)
    assert one.status_code == 200
    assert one.headers["content-type"].startswith("text/csv")
    assert one.content == files["contacts.csv"]
    rows = csv_rows(one.content)
    assert list(rows[0]) == list(BY_NAME["contacts"].fields)
    assert rows[1]["name"] == 'Bob, "the" builder'
    assert rows[1]["phone"] == ""  # null
    assert json.loads(rows[0]["attributes"]) == {"plan": "gold", "vip": True}
    messages = csv_rows(files["messages.csv"])
    assert messages[0]["text"] == 'Oi\nmulti-line, with "quotes"'
    lines = await client.get("/api/data/export?entity=agents", headers=acme.headers)
    assert lines.headers["content-type"].startswith("application/x-ndjson")
    assert [json.loads(line)["name"] for line in lines.text.splitlines()] == ["Closer", "Helper"]


async def test_unknown_entity_is_422(client: httpx.AsyncClient) -> None:
    acme = await owner(client)
    response = await client.get("/api/data/export?entity=users", headers=acme.headers)
    body = assert_problem(response, 422, "invalid-input")
    assert body["field"] == "entity"


async def test_export_is_admins_and_owners_only(client: httpx.AsyncClient) -> None:
    acme = await owner(client)
    member = await invite_and_join(client, acme.account)
    assert_problem(await client.get("/api/data/export", headers=member.headers), 403)
    admin = await invite_and_join(client, acme.account, role="admin")
    assert (await client.get("/api/data/export", headers=admin.headers)).status_code == 200
    assert_problem(await client.get("/api/data/export"), 401)


async def test_an_export_holds_only_the_callers_workspace(
    app: Any, client: httpx.AsyncClient
) -> None:
    sessions = app.state.context.sessions
    acme = await owner(client, "Acme")
    beta = await owner(client, "Beta")
    await seed(sessions, acme.workspace_id, label="11")
    await seed(sessions, beta.workspace_id, label="22")
    files = read_zip((await client.get("/api/data/export", headers=acme.headers)).content)
    assert [row["name"] for row in jsonl_rows(files, "agents")] == ["Closer11", "Helper11"]
    blob = b"".join(files.values()).decode()
    assert "22" not in "".join(row["name"] for row in jsonl_rows(files, "agents"))
    assert "wamid.221" not in blob
    assert "reply-221" not in blob
    assert str(beta.workspace_id) not in blob


class SelectLog:
    """Counts the SELECTs an engine runs while active."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine.sync_engine
        self.count = 0

    def _before(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            self.count += 1

    def __enter__(self) -> SelectLog:
        event.listen(self.engine, "before_cursor_execute", self._before)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)


@pytest.mark.parametrize("export_format", [ExportFormat.jsonl, ExportFormat.csv])
async def test_rows_are_read_in_pages_while_the_export_is_sent(
    app: Any, client: httpx.AsyncClient, export_format: ExportFormat
) -> None:
    """Bytes go out after each page and before the next page is read (flat memory)."""
    context = app.state.context
    acme = await owner(client)
    await seed(context.sessions, acme.workspace_id)
    async with unit_of_work(context.sessions) as session:
        principal = await dataport.operator_principal(session, acme.workspace_id)
        plan = await dataport.plan_export(
            session, principal, export_format=export_format, entity="messages"
        )
    queries_before_chunk: list[int] = []
    body = b""
    with SelectLog(context.engine) as log:
        async for chunk in dataport.stream_export(context.sessions, plan, page_rows=1):
            queries_before_chunk.append(log.count)
            body += chunk
    # 3 messages, one per page: 3 full pages and the short one that ends the keyset walk.
    assert log.count == 4
    pages = queries_before_chunk[-3:]
    assert pages == [1, 2, 3]  # the n-th page's rows were sent before page n+1 was read
    assert body.count(b"wamid.1") == 1


async def test_whole_archive_is_sent_page_by_page(app: Any, client: httpx.AsyncClient) -> None:
    context = app.state.context
    acme = await owner(client)
    await seed(context.sessions, acme.workspace_id)
    async with unit_of_work(context.sessions) as session:
        principal = await dataport.operator_principal(session, acme.workspace_id)
        plan = await dataport.plan_export(session, principal, export_format=ExportFormat.jsonl)
    progress: list[tuple[str, int]] = []
    chunks = [
        chunk
        async for chunk in dataport.stream_export(
            context.sessions, plan, page_rows=1, progress=lambda e, n: progress.append((e, n))
        )
    ]
    assert ("messages", 3) in progress
    assert ("messages", 2) in progress
    assert len(chunks) > sum(SEEDED.values())  # one chunk per page at least
    files = read_zip(b"".join(chunks))
    assert len(jsonl_rows(files, "messages")) == 3


async def test_the_response_is_streamed(client: httpx.AsyncClient) -> None:
    acme = await owner(client)
    response = await client.get("/api/data/export", headers=acme.headers)
    assert "content-length" not in response.headers  # sent as produced, not buffered first


async def test_the_export_records_an_event(client: httpx.AsyncClient) -> None:
    acme = await owner(client)
    await client.get("/api/data/export?format=csv&entity=agents", headers=acme.headers)
    listed = await client.get("/api/events?name=data.exported", headers=acme.headers)
    items = listed.json()["items"]
    assert items[0]["properties"] == {"format": "csv", "entity": "agents"}


def test_registry_lists_parents_first() -> None:
    seen: set[str] = set()
    for spec in ENTITIES:
        # An entity may name its own rows (a branch's later steps), anywhere in its file.
        assert set(spec.references.values()) - {spec.name} <= seen, spec.name
        seen.add(spec.name)
    assert seen >= REFERENCED


async def test_whatsapp_credentials_never_leave_in_any_form(
    app: Any, client: httpx.AsyncClient
) -> None:
    """A number connected through the API (real encryption): neither its tokens nor their
    ciphertexts, digest or hint appear in any export, decompressed or not."""
    acme = await owner(client)
    plaintexts = {
        "access_token": "EAAG-real-access-token-7d1f0c",
        "app_secret": "real-app-secret-93b1a7",
        "verify_token": "real-verify-token-51e2",
    }
    response = await client.post(
        "/api/channels/whatsapp/numbers",
        json={"phone_number_id": "1200340056007", "display_number": "+1 555 0100", **plaintexts},
        headers=acme.headers,
    )
    assert response.status_code == 201, response.text
    async with app.state.context.sessions() as session:
        number = await session.scalar(
            select(WhatsAppNumber).where(WhatsAppNumber.workspace_id == acme.workspace_id)
        )
    assert number is not None
    stored = {
        number.encrypted_access_token,
        number.encrypted_app_secret,
        number.verify_token_digest,
    }
    assert not set(plaintexts.values()) & stored  # the columns really hold other forms
    for export_format in ("jsonl", "csv"):
        exported = await client.get(
            "/api/data/export", params={"format": export_format}, headers=acme.headers
        )
        files = read_zip(exported.content)
        rows = files[f"whatsapp_numbers.{export_format}"].decode()
        assert "1200340056007" in rows  # the number itself is there...
        for blob in (exported.content, *files.values()):
            for secret in (*plaintexts.values(), *stored):
                assert secret.encode() not in blob  # ...its credentials are not
        assert "token_hint" not in rows
        assert "active" not in rows.splitlines()[0]  # the CSV header, or the first object
