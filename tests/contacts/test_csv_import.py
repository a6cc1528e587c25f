"""CSV import through the API, on both engines: column mapping, dry run, per-row problems,
all-or-nothing writes, re-upload idempotency, limits, consent rules and tenancy."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from intuitivus_flow.contacts import csv_import
from tests.helpers import Account, assert_problem, register

GOOD = (
    "Name,Phone,E-mail,Tags,WhatsApp_opt_in,email_opt_in,attr.city\r\n"
    "Ana Souza,+55 11 98765-0001,ana@example.com,vip lead,yes,,São Paulo\r\n"
    'Bruno,+5511987650002,,"promo, br",no,yes,\r\n'
    ",,carla@example.com,,,,Recife\r\n"
)


async def upload(
    client: httpx.AsyncClient,
    account: Account,
    content: str | bytes,
    *,
    dry_run: bool = False,
    tags: list[str] | None = None,
    name: str = "people.csv",
) -> httpx.Response:
    data = content.encode() if isinstance(content, str) else content
    params: dict[str, Any] = {"dry_run": str(dry_run).lower()}
    if tags:
        params["tag"] = tags
    return await client.post(
        "/api/contacts/import",
        params=params,
        files={"file": (name, data, "text/csv")},
        headers=account.headers,
    )


async def contacts_of(client: httpx.AsyncClient, account: Account) -> list[dict[str, Any]]:
    response = await client.get("/api/contacts", params={"limit": 100}, headers=account.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


class TestDryRunAndWrite:
    async def test_dry_run_reports_and_writes_nothing(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        response = await upload(client, owner, GOOD, dry_run=True)
        assert response.status_code == 200, response.text
        report = response.json()
        assert report["dry_run"]
        assert report["valid"]
        assert (report["rows"], report["created"], report["updated"]) == (3, 3, 0)
        assert report["columns"] == {
            "Name": "name",
            "Phone": "phone",
            "E-mail": "email",
            "Tags": "tags",
            "WhatsApp_opt_in": "whatsapp_opt_in",
            "email_opt_in": "email_opt_in",
            "attr.city": "attr:city",
        }
        assert [row["row"] for row in report["preview"]] == [2, 3, 4]
        assert report["preview"][0]["changes"] == [
            "name",
            "phone",
            "email",
            "tags",
            "attributes",
            "whatsapp_opt_in",
        ]
        assert await contacts_of(client, owner) == []

    async def test_real_run_creates_then_reupload_changes_nothing(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await register(client)
        first = await upload(client, owner, GOOD)
        assert first.status_code == 200, first.text
        assert (first.json()["created"], first.json()["dry_run"]) == (3, False)
        people = {c["email"] or c["phone"]: c for c in await contacts_of(client, owner)}
        ana = people["ana@example.com"]
        assert (ana["phone"], ana["tags"], ana["opt_in"]) == (
            "+5511987650001",
            ["lead", "vip"],
            "opted_in",
        )
        assert ana["attributes"] == {"city": "São Paulo"}
        bruno = people["+5511987650002"]
        assert (bruno["tags"], bruno["opt_in"], bruno["email_opt_in"]) == (
            ["br", "promo"],
            "opted_out",
            "opted_in",
        )
        trail = await client.get(f"/api/contacts/{ana['id']}/consent", headers=owner.headers)
        change = trail.json()["items"][0]
        assert (change["source"], change["reason"]) == ("import", "CSV import people.csv")

        again = await upload(client, owner, GOOD)
        assert (again.json()["created"], again.json()["unchanged"]) == (0, 3)
        assert len(await contacts_of(client, owner)) == 3

    async def test_updates_by_phone_or_email_and_adds_tags(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        await upload(client, owner, GOOD)
        changed = (
            "phone;email;name;tags\n"
            "+5511987650002;;Bruno Lima;new\n"  # by phone
            "+5511987650003;carla@example.com;Carla;\n"  # by e-mail: Carla gets her phone
        )
        response = await upload(client, owner, changed, tags=["fair-2026"])
        report = response.json()
        assert (report["created"], report["updated"]) == (0, 2), report
        assert report["preview"][1]["changes"] == ["name", "phone", "tags"]
        people = {c["email"] or c["phone"]: c for c in await contacts_of(client, owner)}
        assert people["+5511987650002"]["name"] == "Bruno Lima"
        assert people["+5511987650002"]["tags"] == ["br", "fair-2026", "new", "promo"]
        assert people["carla@example.com"]["phone"] == "+5511987650003"
        assert people["ana@example.com"]["tags"] == ["lead", "vip"]  # not in this file


class TestProblems:
    async def test_bad_rows_are_listed_and_nothing_is_written(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await register(client)
        bad = (
            "name,phone,email,whatsapp_opt_in,tags\n"
            "Good,+5511987650001,,yes,\n"
            "Bad phone,12345,,,\n"
            "Bad mail,,not-an-email,,\n"
            "No key,,,,\n"
            "Twice,+55 11 98765 0001,,,\n"
            "Odd consent,+5511987650005,,maybe,\n"
            "Bad tag,+5511987650006,,,ok has!bang\n"
        )
        dry = (await upload(client, owner, bad, dry_run=True)).json()
        assert dry["valid"] is False
        found = [(p["row"], p["column"]) for p in dry["errors"]]
        assert found == [
            (3, "phone"),
            (4, "email"),
            (5, None),
            (6, "phone"),
            (7, "whatsapp_opt_in"),
            (8, "tags"),
        ]
        assert dry["errors"][3]["message"] == "the same contact as row 2; keep one row per contact"
        real = await upload(client, owner, bad)
        body = assert_problem(real, 422, "contact-import-invalid")
        assert body["errors_total"] == 6
        assert body["errors"] == dry["errors"]
        assert await contacts_of(client, owner) == []

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            ("nome,telefone\nAna,+5511987650001\n", "unknown column"),
            ("name,tags\nAna,vip\n", "a phone or an email column is needed"),
            ("phone,Phone\n+5511987650001,+5511987650001\n", "the same field as column"),
            ("", "The file is empty"),
            (b"name,phone\n\xff\xfe,+5511987650001\n", "not UTF-8"),
        ],
    )
    async def test_wrong_files_change_nothing(
        self, client: httpx.AsyncClient, content: str | bytes, message: str
    ) -> None:
        owner = await register(client)
        for dry_run in (True, False):
            response = await upload(client, owner, content, dry_run=dry_run)
            body = assert_problem(response, 422, "contact-import-invalid")
            assert message in body["errors"][0]["message"], body
        assert await contacts_of(client, owner) == []

    async def test_limits(self, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
        owner = await register(client)
        monkeypatch.setattr(csv_import, "MAX_ROWS", 3)
        rows = "".join(f"+55119876500{i:02d}\n" for i in range(4))
        too_many = await upload(client, owner, "phone\n" + rows)
        assert "At most 3 contacts" in assert_problem(too_many, 413)["detail"]
        monkeypatch.setattr(csv_import, "MAX_BYTES", 50)
        too_big = await upload(client, owner, "phone\n" + "+5511987650001\n" * 10)
        assert "at most 50 bytes" in assert_problem(too_big, 413)["detail"]
        assert await contacts_of(client, owner) == []

    async def test_an_import_never_opts_back_in(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        created = await client.post(
            "/api/contacts",
            json={"phone": "+5511987650001", "opt_in": "opted_out"},
            headers=owner.headers,
        )
        assert created.status_code == 201
        report = (
            await upload(client, owner, "phone,whatsapp_opt_in,name\n+5511987650001,yes,Ana\n")
        ).json()
        assert report["valid"]
        assert report["updated"] == 1
        assert report["warnings"][0]["column"] == "whatsapp_opt_in"
        contact = (await contacts_of(client, owner))[0]
        assert (contact["opt_in"], contact["name"]) == ("opted_out", "Ana")


class TestConcurrencyAndTenancy:
    async def test_parallel_uploads_of_one_file_create_each_contact_once(
        self, client: httpx.AsyncClient
    ) -> None:
        owner = await register(client)
        responses = await asyncio.gather(*(upload(client, owner, GOOD) for _ in range(3)))
        assert all(response.status_code == 200 for response in responses), [
            response.text for response in responses
        ]
        assert sorted(r.json()["created"] for r in responses) == [0, 0, 3]
        assert len(await contacts_of(client, owner)) == 3

    async def test_another_workspace_is_neither_matched_nor_changed(
        self, client: httpx.AsyncClient
    ) -> None:
        alpha = await register(client, workspace="Alpha")
        beta = await register(client, workspace="Beta")
        await upload(client, beta, GOOD)
        report = (await upload(client, alpha, GOOD)).json()
        assert report["created"] == 3  # beta's contacts with the same phones are not matched
        beta_people = await contacts_of(client, beta)
        assert {c["name"] for c in beta_people} == {"Ana Souza", "Bruno", ""}
        assert len(await contacts_of(client, alpha)) == 3

    async def test_members_import_but_need_the_write_scope(self, client: httpx.AsyncClient) -> None:
        owner = await register(client)
        key = await client.post(
            "/api/api-keys",
            json={"name": "reader", "scopes": ["contacts:read"]},
            headers=owner.headers,
        )
        assert key.status_code == 201, key.text
        headers = {"Authorization": f"Bearer {key.json()['key']}"}
        refused = await client.post(
            "/api/contacts/import",
            files={"file": ("a.csv", b"phone\n+5511987650001\n", "text/csv")},
            headers=headers,
        )
        assert_problem(refused, 403)
