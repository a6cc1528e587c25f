"""The database stopped, then started again, under a running app: 503s, then recovery."""

from __future__ import annotations

import time

import httpx

from tests.helpers import register
from tests.resilience.processes import ThrowawayPostgres

# database_timeout_seconds is 1 in these tests; the answer may take a connect attempt plus a
# pool checkout, never the default TCP connect timeout or a hang.
BOUND_SECONDS = 4.0


async def _timed_get(
    client: httpx.AsyncClient, path: str, **kwargs: object
) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await client.get(path, **kwargs)  # type: ignore[arg-type]
    return response, time.perf_counter() - started


def _assert_unavailable(response: httpx.Response, took: float) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/unavailable"
    assert int(response.headers["Retry-After"]) > 0
    assert took < BOUND_SECONDS


async def test_a_stopped_database_is_answered_503_and_service_resumes_without_restart(
    outage_client: httpx.AsyncClient, own_postgres: ThrowawayPostgres
) -> None:
    account = await register(outage_client)
    assert (await outage_client.get("/api/workspace", headers=account.headers)).status_code == 200

    own_postgres.stop()
    response, took = await _timed_get(outage_client, "/api/workspace", headers=account.headers)
    _assert_unavailable(response, took)
    ready, took = await _timed_get(outage_client, "/ready")
    assert ready.status_code == 503
    assert ready.json()["components"]["database"]["status"] == "fail"
    assert took < BOUND_SECONDS
    assert (await outage_client.get("/health")).status_code == 200

    own_postgres.start()
    back = await outage_client.get("/api/workspace", headers=account.headers)
    assert back.status_code == 200, back.text
    assert (await outage_client.get("/ready")).status_code == 200


async def test_a_write_during_the_outage_is_refused_not_half_done(
    outage_client: httpx.AsyncClient, own_postgres: ThrowawayPostgres
) -> None:
    account = await register(outage_client)
    own_postgres.stop()
    started = time.perf_counter()
    refused = await outage_client.post(
        "/api/contacts", json={"name": "Ada", "phone": "+5511999990001"}, headers=account.headers
    )
    _assert_unavailable(refused, time.perf_counter() - started)

    own_postgres.start()
    listed = await outage_client.get("/api/contacts", headers=account.headers)
    assert listed.status_code == 200, listed.text
    assert listed.json()["items"] == []
