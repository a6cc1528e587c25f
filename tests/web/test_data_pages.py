"""The Data page: download exports, import with a dry run, see every bad row; admins only."""

from __future__ import annotations

import io
import zipfile

import httpx
from sqlalchemy import func, select

from intuitivus_flow.agents.models import Agent
from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.users.models import Role, User
from tests.dataport.support import jsonl, make_zip
from tests.web.browsing import Web, csrf_from, sign_up, text_of

GOOD = make_zip({"agents.jsonl": jsonl({"name": "Imported agent"})})
BAD = make_zip({"agents.jsonl": jsonl({"name": "ok"}, {"status": "sleeping"})})


async def post_import(
    browser: httpx.AsyncClient, data: bytes, *, dry_run: bool, filename: str = "export.zip"
) -> httpx.Response:
    token = csrf_from((await browser.get("/data")).text)
    fields = {"csrf_token": token, **({"dry_run": "on"} if dry_run else {})}
    return await browser.post(
        "/data/import", data=fields, files={"file": (filename, data, "application/zip")}
    )


async def agents(web: Web) -> int:
    async with web.app.state.context.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Agent)) or 0)


async def test_download_buttons_give_the_export(browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    page = await browser.get("/data")
    assert page.status_code == 200
    assert 'href="/data"' in page.text  # in the navigation for owners
    assert "Download JSON Lines (zip)" in text_of(page.text)
    download = await browser.get("/data/export?format=csv")
    assert download.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(download.content)).namelist()
    assert "agents.csv" in names
    one = await browser.get("/data/export?format=csv&entity=events")
    assert one.text.startswith("id,name,source")


async def test_dry_run_shows_counts_then_import_writes(
    web: Web, browser: httpx.AsyncClient
) -> None:
    await sign_up(browser)
    dry = await post_import(browser, GOOD, dry_run=True)
    assert dry.status_code == 200
    assert "would create 1 rows. Nothing was written." in text_of(dry.text)
    assert await agents(web) == 0
    done = await post_import(browser, GOOD, dry_run=False)
    assert "Imported 1 rows." in text_of(done.text)
    assert await agents(web) == 1


async def test_bad_rows_are_listed_and_nothing_is_written(
    web: Web, browser: httpx.AsyncClient
) -> None:
    await sign_up(browser)
    response = await post_import(browser, BAD, dry_run=False)
    assert response.status_code == 422
    page = text_of(response.text)
    assert "nothing was imported" in page
    assert "agents.jsonl 2 status" in page
    assert await agents(web) == 0


async def test_not_a_zip_and_no_file(browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    response = await post_import(browser, b"plain text", dry_run=True)
    assert response.status_code == 422
    assert "not a zip archive" in text_of(response.text)
    token = csrf_from((await browser.get("/data")).text)
    empty = await browser.post("/data/import", data={"csrf_token": token})
    assert empty.status_code == 422
    assert "Choose an export file." in text_of(empty.text)


async def test_forms_need_the_csrf_token(browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    forged = await browser.post("/data/import", files={"file": ("x.zip", GOOD)})
    assert forged.status_code == 403


async def test_members_cannot_export_or_import(web: Web, browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    token = csrf_from((await browser.get("/data")).text)
    async with unit_of_work(web.app.state.context.sessions) as session:
        owner = (await session.execute(select(User))).scalars().one()
        owner.role = Role.member
    page = await browser.get("/data")
    assert page.status_code == 403
    assert 'href="/data"' not in page.text
    assert (await browser.get("/data/export")).status_code == 403
    refused = await browser.post(
        "/data/import", data={"csrf_token": token}, files={"file": ("x.zip", GOOD)}
    )
    assert refused.status_code == 403
    assert await agents(web) == 0
