"""The Performance page, the `perf analyze` command and the web UI's compression."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from intuitivus_flow.app import create_app
from intuitivus_flow.config import Settings
from intuitivus_flow.kit import migrations
from intuitivus_flow.performance.cli import build_cli
from intuitivus_flow.web.performance_pages import operator_pages
from tests.web.browsing import Web, sign_up, submit, text_of


@pytest.fixture
async def web(tmp_path: Path) -> AsyncIterator[Web]:
    settings = Settings(
        env="test",
        data_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/t.db",
        seed_demo=False,
    )
    app = create_app(settings)
    await migrations.upgrade(app.state.context.engine)
    yield Web(app)
    await app.state.context.close()


async def test_operators_run_the_analysis_from_the_performance_page(web: Web) -> None:
    async with web.client() as browser:
        await sign_up(browser)
        page = await browser.get("/performance")
        assert page.status_code == 200
        assert "No analysis yet" in text_of(page.text)
        assert 'href="/performance"' in page.text  # in the operators' navigation
        ran = await submit(browser, "/performance", "/performance/run", {"window": "15m"})
        assert ran.status_code == 303
        shown = await browser.get(ran.headers["location"])
        text = text_of(shown.text)
        assert "window 15 min" in text
        assert "Page weight" in text  # the web area fetched the pages with this session
        assert "/contacts" in text
        assert "<svg" in shown.text
        assert "style=" not in shown.text  # the CSP forbids inline styles


async def test_the_performance_page_is_for_operators_only(web: Web) -> None:
    async with web.client() as first:
        await sign_up(first)  # the first workspace: its owner operates the instance
    async with web.client() as other:
        await sign_up(other, email="other@example.com", workspace="Other Co")
        assert (await other.get("/performance")).status_code == 403
        refused = await submit(other, "/settings", "/performance/run", {"window": "1h"})
        assert refused.status_code == 403


async def test_the_web_ui_is_compressed_and_the_api_is_not(web: Web) -> None:
    async with web.client() as browser:
        await sign_up(browser)
        gzip_please = {"Accept-Encoding": "gzip"}
        css = await browser.get("/static/flow.css", headers=gzip_please)
        assert css.headers["content-encoding"] == "gzip"
        assert css.num_bytes_downloaded < len(css.content) / 2
        page = await browser.get("/agents", headers=gzip_please)
        assert page.headers["content-encoding"] == "gzip"
        api = await browser.get("/api/auth/me", headers=gzip_please)
        assert "content-encoding" not in api.headers
        plain = await browser.get("/static/flow.css", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert gzip.decompress(gzip.compress(plain.content)) == css.content


async def test_the_operator_session_of_a_run_is_closed_after_it(web: Web) -> None:
    async with web.client() as browser:
        await sign_up(browser)
    async with operator_pages(web.app) as pages:
        assert pages is not None
        assert (await pages.get("/agents")).status_code == 200
        cookies = dict(pages.cookies)
    async with web.client(cookies=cookies) as reused:
        assert (await reused.get("/agents")).status_code == 303  # signed out: to /signin


def test_perf_analyze_writes_a_json_report_and_refuses_a_bad_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    settings = Settings(env="test", data_dir=tmp_path, database_url=url, seed_demo=False)
    app = create_app(settings)
    asyncio.run(_migrate(app))
    for name, value in {
        "FLOW_ENV": "test",
        "FLOW_DATA_DIR": str(tmp_path),
        "FLOW_DATABASE_URL": url,
        "FLOW_SEED_DEMO": "false",
    }.items():
        monkeypatch.setenv(name, value)
    cli = build_cli(create_app, operator_pages)
    runner = CliRunner()

    bad = runner.invoke(cli, ["analyze", "--window", "soon"])
    assert bad.exit_code == 2
    assert "invalid duration 'soon'" in bad.output
    assert "Traceback" not in bad.output

    report = tmp_path / "perf.json"
    done = runner.invoke(
        cli, ["analyze", "--window", "30m", "--format", "json", "--output", str(report)]
    )
    assert done.exit_code == 0, done.output
    data = json.loads(report.read_text())
    assert data["window_seconds"] == 1800
    assert data["engine"] == "sqlite"
    areas = {table["area"] for table in data["tables"]}
    assert {"jobs", "process", "web"} <= areas
    assert data["seconds"] < 10  # the target for a normal instance
    assert "analysing jobs..." in done.output  # progress, per area


async def _migrate(app: object) -> None:
    context = app.state.context  # type: ignore[attr-defined]
    await migrations.upgrade(context.engine)
    await context.close()
