"""Each app runs its jobs with its own settings, however many apps one process builds (issue 10,
item 12; issue 11): handlers once kept the first app's settings in closures or the last app's
in module dictionaries; now each worker hands its own app's `JobContext` to every call."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from intuitivus_flow.app import create_app
from intuitivus_flow.config import Settings
from intuitivus_flow.kit import migrations
from intuitivus_flow.task_registry import worker_for
from tests.alerts_engine.receivers import smtp_receiver
from tests.billing.helpers import WEBHOOK_SETTINGS, hotmart_event, send_hotmart
from tests.dataport.support import jsonl, make_zip
from tests.helpers import register

AppFactory = Callable[..., Any]


@pytest.fixture
async def make_app(tmp_path: Path) -> AsyncIterator[AppFactory]:
    """Apps of one process, each on its own SQLite file and with its own settings."""
    async with AsyncExitStack() as stack:
        built: list[Any] = []

        async def make(**overrides: Any) -> Any:
            folder = tmp_path / f"app{len(built)}"
            folder.mkdir()
            settings = Settings(
                env="test",
                data_dir=folder,
                database_url=f"sqlite+aiosqlite:///{folder}/flow.db",
                seed_demo=False,
                **overrides,
            )
            app = create_app(settings)
            await migrations.upgrade(app.state.context.engine)
            stack.push_async_callback(app.state.context.close)
            built.append(app)
            return app

        yield make


def client_of(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def run_jobs(app: Any) -> int:
    return await worker_for(app.state.context, name="test-worker").run_until_idle()


async def test_licence_mail_goes_out_with_each_apps_own_sender(make_app: AppFactory) -> None:
    with smtp_receiver() as (port, inbox):
        smtp = {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_starttls": False}
        first = await make_app(**WEBHOOK_SETTINGS, **smtp, smtp_from="first@flow.test")
        second = await make_app(**WEBHOOK_SETTINGS, **smtp, smtp_from="second@flow.test")
        for app, order in ((first, "HP-first"), (second, "HP-second")):
            async with client_of(app) as client:
                response = await send_hotmart(client, hotmart_event("PURCHASE_APPROVED", order))
                assert response.status_code == 200, response.text
        # The second app's job first, then the first's: neither may borrow the other's settings.
        assert await run_jobs(second) == 1
        assert await run_jobs(first) == 1
    assert [message["From"] for message in inbox] == ["second@flow.test", "first@flow.test"]


async def test_queued_imports_use_each_apps_own_limits(make_app: AppFactory) -> None:
    strict = await make_app(import_max_rows_per_file=1)
    await make_app()  # built later, with the default limits
    archive = make_zip({"agents.jsonl": jsonl({"name": "One"}, {"name": "Two"})})
    async with client_of(strict) as client:
        owner = await register(client)
        queued = await client.post(
            "/api/data/imports",
            files={"file": ("export.zip", archive, "application/zip")},
            headers=owner.headers,
        )
        assert queued.status_code == 202, queued.text
        assert await run_jobs(strict) == 1
        run_id = queued.json()["id"]
        run = (await client.get(f"/api/data/imports/{run_id}", headers=owner.headers)).json()
    # Two rows are over the strict app's limit of one, whatever the later app allows.
    assert run["status"] == "failed", run
