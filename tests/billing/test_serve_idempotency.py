"""The Idempotency-Key proof against a real `intuitivus-flow serve` process on PostgreSQL:
ten parallel requests over real sockets, each on its own connection, create one payment."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.cli.test_cli import PYTHON, _wait_healthy, free_port
from tests.conftest import PG_HOST, PG_PORT, PG_USER, _admin, _create_postgres_database
from tests.helpers import register

PAY = {"amount_minor": 4200, "currency": "BRL", "description": "Real server"}


@pytest.fixture
async def pg_url() -> AsyncIterator[tuple[str, str]]:
    name = await _create_postgres_database()
    yield name, f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _serve(data_dir: Path, database_url: str) -> Iterator[str]:
    import os
    import subprocess

    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLOW_")}
    env.update(
        {
            "FLOW_DATA_DIR": str(data_dir),
            "FLOW_ENV": "local",
            "FLOW_DATABASE_URL": database_url,
            "FLOW_SEED_DEMO": "false",
            "FLOW_EMBEDDED_WORKER": "false",
        }
    )
    log = data_dir / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*PYTHON, "serve", "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, env=env
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(base, process, log)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=20)


async def test_parallel_retries_over_a_real_server(tmp_path: Path, pg_url: tuple[str, str]) -> None:
    name, url = pg_url
    for base in _serve(tmp_path, url):
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            owner = await register(client)
            headers = {**owner.headers, "Idempotency-Key": "real-server-race"}

            async def one(base: str = base, headers: dict[str, str] = headers) -> httpx.Response:
                # A client per request: separate TCP connections, truly concurrent requests.
                async with httpx.AsyncClient(base_url=base, timeout=30) as own:
                    return await own.post("/api/billing/payments", json=PAY, headers=headers)

            responses = await asyncio.gather(*(one() for _ in range(10)))
        assert {response.status_code for response in responses} == {201}
        assert all(response.json() == responses[0].json() for response in responses)
        assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 9
    connection = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=name)
    try:
        assert await connection.fetchval("SELECT count(*) FROM billing_payments") == 1
    finally:
        await connection.close()
