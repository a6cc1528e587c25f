"""Damaged archives and rows that no column can hold: a clear 422 (in the request) or a
permanent, readable failure (queued), never a 500, never a retry, never a raw exception.
Both engines (issue 10, items 11 and 17)."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from tests.dataport.crafted import DAMAGED, REFUSED_UPFRONT
from tests.dataport.support import jsonl, make_zip, owner
from tests.dataport.test_import import count, upload
from tests.dataport.test_queued_import import job_of, make_ready, queue, run_worker, status
from tests.helpers import assert_problem

from intuitivus_flow.agents.models import Agent
from intuitivus_flow.dataport.imports import service as importer

# What a readable message never holds: exception class names, SQL, driver module paths.
LEAKS = ("Error", "Exception", "SELECT", "INSERT", "sqlalchemy", "asyncpg", "sqlite3", "Traceback")


def assert_readable(message: str) -> None:
    assert not any(leak in message for leak in LEAKS), message


@pytest.mark.parametrize("damage", sorted(DAMAGED))
class TestDamagedArchives:
    async def test_the_request_answers_422_and_writes_nothing(
        self, app: Any, client: httpx.AsyncClient, damage: str
    ) -> None:
        acme = await owner(client)
        for dry_run in (True, False):
            response = await upload(client, acme.headers, DAMAGED[damage](), dry_run=dry_run)
            body = assert_problem(response, 422, "import-invalid")
            assert body["errors"][0]["file"] == "agents.jsonl"
            assert_readable(body["errors"][0]["message"])
        assert await count(app, Agent, acme.workspace_id) == 0

    async def test_a_queued_import_fails_once_for_good_with_a_readable_reason(
        self, app: Any, client: httpx.AsyncClient, damage: str
    ) -> None:
        acme = await owner(client)
        response = await queue(client, acme.headers, DAMAGED[damage]())
        if damage in REFUSED_UPFRONT:  # the archive's directory says it all
            body = assert_problem(response, 422, "import-invalid")
            assert_readable(body["errors"][0]["message"])
            return
        assert response.status_code == 202, response.text
        run_id = response.json()["id"]
        await run_worker(app)
        failed = await status(client, acme.headers, run_id)
        assert failed["status"] == "failed"
        assert failed["attempts"] == 1  # permanent: a retry would read the same bytes
        assert failed["errors"][0]["file"] == "agents.jsonl"
        assert_readable(failed["message"])
        assert_readable(failed["errors"][0]["message"])
        assert (await job_of(app, run_id)).status == "succeeded"  # the job did its work
        assert await count(app, Agent, acme.workspace_id) == 0


def nested(depth: int) -> Any:
    document: Any = 1
    for _ in range(depth):
        document = {"a": document}
    return document


# (file name, content, field the problem names) - each row is valid JSON or CSV whose value
# no column can hold: each was a 500 (RecursionError, OverflowError, DataError, NOT NULL...).
IMPOSSIBLE_ROWS = {
    "deep_json_line": (
        "events.jsonl",
        '{"name": "ui.x", "properties": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}\n",
        None,
    ),
    "deep_json_in_a_column": (
        "events.jsonl",
        jsonl({"name": "ui.x", "properties": nested(70)}),
        None,
    ),
    "max_tokens_10_30": ("agents.jsonl", jsonl({"name": "A", "max_tokens": 10**30}), "max_tokens"),
    "integer_column": ("agents.jsonl", jsonl({"name": "A", "max_tokens": 2**31}), "max_tokens"),
    "big_integer_column": (
        "campaigns.jsonl",
        jsonl({"name": "C", "platform": "email", "currency": "EUR", "total_budget_minor": 2**63}),
        "total_budget_minor",
    ),
    "nan_temperature": ("agents.jsonl", '{"name": "A", "temperature": NaN}\n', None),
    "infinite_temperature": (
        "agents.jsonl",
        '{"name": "A", "temperature": 1e400}\n',
        "temperature",
    ),
    "nan_temperature_csv": ("agents.csv", "name,temperature\nA,nan\n", "temperature"),
    "nan_in_a_json_column": ("events.jsonl", '{"name": "ui.x", "properties": {"v": NaN}}\n', None),
    "year_1_with_offset": (
        "agents.jsonl",
        jsonl({"name": "A", "created_at": "0001-01-01T00:30:00+05:00"}),
        "created_at",
    ),
    "year_9999_with_offset": (
        "events.jsonl",
        jsonl({"name": "ui.x", "occurred_at": "9999-12-31T23:30:00-05:00"}),
        "occurred_at",
    ),
}


@pytest.mark.parametrize("case", sorted(IMPOSSIBLE_ROWS))
class TestImpossibleRows:
    async def test_the_row_is_reported_and_nothing_is_written(
        self, app: Any, client: httpx.AsyncClient, case: str
    ) -> None:
        file, content, field = IMPOSSIBLE_ROWS[case]
        acme = await owner(client)
        response = await upload(client, acme.headers, make_zip({file: content}))
        body = assert_problem(response, 422, "import-invalid")
        line = 2 if file.endswith(".csv") else 1
        assert [(e["file"], e["line"], e["field"]) for e in body["errors"]] == [(file, line, field)]
        assert_readable(body["errors"][0]["message"])
        assert await count(app, Agent, acme.workspace_id) == 0

    async def test_a_queued_import_fails_for_good(
        self, app: Any, client: httpx.AsyncClient, case: str
    ) -> None:
        file, content, _ = IMPOSSIBLE_ROWS[case]
        acme = await owner(client)
        run_id = (await queue(client, acme.headers, make_zip({file: content}))).json()["id"]
        await run_worker(app)
        failed = await status(client, acme.headers, run_id)
        assert failed["status"] == "failed"
        assert failed["attempts"] == 1
        assert failed["errors_total"] == 1


class TestUnexpectedErrors:
    async def test_the_run_shows_a_generic_message_and_the_log_has_the_details(
        self,
        app: Any,
        client: httpx.AsyncClient,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        acme = await owner(client)
        run_id = (
            await queue(client, acme.headers, make_zip({"agents.jsonl": jsonl({"name": "A"})}))
        ).json()["id"]

        async def broken(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError('INSERT INTO agents (secret) VALUES ("internal detail")')

        monkeypatch.setattr(importer, "write", broken)
        with caplog.at_level(logging.WARNING):
            await run_worker(app)
        retrying = await status(client, acme.headers, run_id)
        assert retrying["status"] == "queued"  # unexpected: it may pass next time
        assert "internal detail" not in str(retrying)
        assert "unexpected" in retrying["message"]
        assert "internal detail" in caplog.text  # operators can still find out what happened

    async def test_a_job_that_gave_up_shows_no_raw_error(
        self, app: Any, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        acme = await owner(client)
        run_id = (
            await queue(client, acme.headers, make_zip({"agents.jsonl": jsonl({"name": "A"})}))
        ).json()["id"]

        async def broken(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("SELECT secret FROM internals")

        monkeypatch.setattr(importer, "write", broken)
        for _ in range(3):
            await make_ready(app)
            await run_worker(app)
        failed = await status(client, acme.headers, run_id)
        assert failed["status"] == "failed"
        assert failed["attempts"] == 3
        assert "SELECT" not in str(failed)
        assert "Nothing was imported" in failed["message"]
