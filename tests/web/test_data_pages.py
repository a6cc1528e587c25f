"""The Data page: download exports, dry runs in the request, imports queued on the job system
and followed on their status page (every bad row listed there); admins only."""

from __future__ import annotations

import io
import re
import zipfile

import httpx
from sqlalchemy import func, select

from intuitivus_flow.agents.models import Agent
from intuitivus_flow.dataport.models import ImportUploadChunk
from intuitivus_flow.identity.roles import Role
from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.task_registry import worker_for
from intuitivus_flow.users.models import User
from tests.dataport.support import jsonl, make_zip
from tests.web.browsing import Web, csrf_from, sign_up, text_of

GOOD = make_zip({"agents.jsonl": jsonl({"name": "Imported agent"})})
BAD = make_zip({"agents.jsonl": jsonl({"name": "ok"}, {"status": "sleeping"})})
STATUS_PAGE = re.compile(r"^/data/imports/[0-9a-f-]{36}$")


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


async def upload_chunks(web: Web) -> int:
    async with web.app.state.context.sessions() as session:
        count = await session.scalar(select(func.count()).select_from(ImportUploadChunk))
        return int(count or 0)


async def run_worker(web: Web) -> int:
    return await worker_for(web.app.state.context, name="test-worker").run_until_idle()


async def queued(browser: httpx.AsyncClient, data: bytes) -> str:
    """Post a real import; answer the status page it redirects to."""
    response = await post_import(browser, data, dry_run=False)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert STATUS_PAGE.match(location), location
    return location


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
    assert "whatsapp_numbers.csv" in names
    one = await browser.get("/data/export?format=csv&entity=events")
    assert one.text.startswith("id,name,source")


async def test_dry_run_shows_counts_and_writes_nothing(
    web: Web, browser: httpx.AsyncClient
) -> None:
    await sign_up(browser)
    dry = await post_import(browser, GOOD, dry_run=True)
    assert dry.status_code == 200
    assert "would create 1 rows. Nothing was written." in text_of(dry.text)
    assert 'name="dry_run" checked' in dry.text
    assert await agents(web) == 0


async def test_an_import_is_queued_then_the_worker_runs_it(
    web: Web, browser: httpx.AsyncClient
) -> None:
    await sign_up(browser)
    status_page = await queued(browser, GOOD)
    waiting = await browser.get(status_page)
    assert waiting.status_code == 200
    assert waiting.headers["refresh"] == "2"  # reloads itself while running
    assert "Import Queued" in text_of(waiting.text)
    assert "Waiting for a worker." in text_of(waiting.text)
    assert await agents(web) == 0
    assert await upload_chunks(web) == 1  # the upload waits in the database
    assert await run_worker(web) == 1
    done = await browser.get(status_page)
    page = text_of(done.text)
    assert "refresh" not in done.headers
    assert "Import Succeeded" in page
    assert "Imported 1 rows." in page
    assert "Rows processed 1 of 1" in page
    assert "agents 1 1 1 1" in page  # rows, validated, written, created
    assert await agents(web) == 1
    assert await upload_chunks(web) == 0  # deleted with the outcome
    listing = text_of((await browser.get("/data")).text)
    assert "Recent imports" in listing
    assert "export.zip Succeeded 1 created" in listing


async def test_bad_rows_are_listed_on_the_status_page_and_nothing_is_written(
    web: Web, browser: httpx.AsyncClient
) -> None:
    await sign_up(browser)
    status_page = await queued(browser, BAD)
    await run_worker(web)
    failed = await browser.get(status_page)
    page = text_of(failed.text)
    assert "refresh" not in failed.headers
    assert "Import Failed" in page
    assert "nothing was imported" in page
    assert "agents.jsonl 2 status" in page
    assert "agents.jsonl 2 name" in page
    assert await agents(web) == 0


async def test_dry_run_lists_bad_rows_at_once(web: Web, browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    response = await post_import(browser, BAD, dry_run=True)
    assert response.status_code == 422
    page = text_of(response.text)
    assert "nothing was imported" in page
    assert "agents.jsonl 2 status" in page
    assert await agents(web) == 0


async def test_not_a_zip_and_no_file(web: Web, browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    for dry_run in (True, False):  # a broken archive is refused before anything is queued
        response = await post_import(browser, b"plain text", dry_run=dry_run)
        assert response.status_code == 422
        assert "not a zip archive" in text_of(response.text)
    assert "Recent imports" not in text_of((await browser.get("/data")).text)
    assert await upload_chunks(web) == 0
    token = csrf_from((await browser.get("/data")).text)
    empty = await browser.post("/data/import", data={"csrf_token": token})
    assert empty.status_code == 422
    assert "Choose an export file." in text_of(empty.text)


async def test_another_workspace_cannot_see_the_import(
    web: Web, browser: httpx.AsyncClient
) -> None:
    await sign_up(browser)
    status_page = await queued(browser, GOOD)
    async with web.client() as other:
        await sign_up(other, email="other@example.com", workspace="Other Co")
        assert (await other.get(status_page)).status_code == 404
        assert (await other.get("/data/imports/not-an-id")).status_code == 404
        assert "Recent imports" not in text_of((await other.get("/data")).text)


async def test_forms_need_the_csrf_token(browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    forged = await browser.post("/data/import", files={"file": ("x.zip", GOOD)})
    assert forged.status_code == 403


async def test_members_cannot_export_or_import(web: Web, browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    status_page = await queued(browser, GOOD)
    token = csrf_from((await browser.get("/data")).text)
    async with unit_of_work(web.app.state.context.sessions) as session:
        owner = (await session.execute(select(User))).scalars().one()
        owner.role = Role.member
    page = await browser.get("/data")
    assert page.status_code == 403
    assert 'href="/data"' not in page.text
    assert (await browser.get("/data/export")).status_code == 403
    assert (await browser.get(status_page)).status_code == 403
    refused = await browser.post(
        "/data/import", data={"csrf_token": token}, files={"file": ("x.zip", GOOD)}
    )
    assert refused.status_code == 403
    assert await agents(web) == 0
