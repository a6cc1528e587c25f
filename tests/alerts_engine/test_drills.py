"""Done-when drill: break the app on purpose and watch each default alert go
pending -> firing -> resolved, with exactly one notification each way per receiver.

The app is real (HTTP metrics middleware, fault injection, its own Prometheus registry and
database pool); the sampler reads that registry through its source boundary, the engine
evaluates the packaged default rules, notifications go to local HTTP and SMTP receivers.
Time is compressed by a manual clock: one sample covers a 15 s or 5 min interval.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncConnection

from intuitivus_flow.app import create_app
from intuitivus_flow.config import Settings
from intuitivus_flow.metrics_history.sampler import OverrideSource, PrometheusSource
from intuitivus_flow.observability.install import Telemetry
from intuitivus_flow.observability.metrics import FlowMetrics
from intuitivus_flow.operations import Operations
from tests.alerts_engine.harness import ManualClock
from tests.alerts_engine.receivers import HttpReceiver, http_receiver, smtp_receiver
from tests.conftest import Database, empty_tables

TOKEN = "drill-metrics-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TRAFFIC_PATH = "/api/auth/me"  # answers 401 quickly; the faults make it slow or failing


@dataclass
class Drill:
    client: httpx.AsyncClient
    operations: Operations
    source: OverrideSource
    clock: ManualClock
    http: HttpReceiver
    mailbox: list[Message]
    held: list[AsyncConnection] = field(default_factory=list)

    async def traffic(self, requests: int = 4) -> None:
        await asyncio.gather(*(self.client.get(TRAFFIC_PATH) for _ in range(requests)))

    async def tick(self, seconds: float) -> None:
        """Traffic over the interval, then what the loops do: sample, evaluate, dispatch."""
        await self.traffic()
        self.clock.advance(seconds=seconds)
        assert await self.operations.sample_once() > 0
        await self.operations.evaluate_once()
        await self.operations.dispatch_once()

    async def state(self, name: str) -> str | None:
        board = (await self.client.get("/api/alerts", headers=AUTH)).json()
        for state in ("firing", "pending"):
            if any(alert["name"] == name for alert in board[state]):
                return state
        history = (
            await self.client.get("/api/alerts/history", params={"name": name}, headers=AUTH)
        ).json()
        return history["items"][0]["to_state"] if history["items"] else None

    def notified(self) -> list[tuple[str, str]]:
        """(status, alert) of every notification, per receiver kind, in order received."""
        hooks = [(b["status"], b["groupLabels"]["alertname"]) for b in self.http.bodies("/hook")]
        slack = [tuple(b["text"].split()[0:2]) for b in self.http.bodies("/slack")]
        mails = [tuple(str(m["Subject"]).split()[0:2]) for m in self.mailbox]
        assert slack == [(f"[{s.upper()}]", n) for s, n in hooks]
        assert mails == [(f"[{s.upper()}]", n) for s, n in hooks]
        return hooks


@pytest.fixture
async def drill(database: Database, data_root: Path) -> AsyncIterator[Drill]:
    with http_receiver() as http, smtp_receiver() as (smtp_port, mailbox):
        settings = Settings(
            env="test",
            data_dir=data_root,
            database_url=database.url,
            seed_demo=False,
            fault_injection=True,
            metrics_token=TOKEN,
            alert_webhook_urls=f"{http.url}/hook",
            alert_slack_webhook_url=f"{http.url}/slack",
            alert_email_to="oncall@example.com",
            smtp_host="127.0.0.1",
            smtp_port=smtp_port,
            smtp_starttls=False,
        )
        metrics = FlowMetrics(CollectorRegistry())
        app = create_app(settings, telemetry=Telemetry(metrics=metrics))
        clock = ManualClock()
        source = OverrideSource(PrometheusSource(lambda: metrics.registry))
        operations = Operations(context=app.state.context, source=source, clock=clock)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            drill = Drill(client, operations, source, clock, http, mailbox)
            try:
                yield drill
            finally:
                for connection in drill.held:
                    await connection.close()
                await app.state.context.close()
                await empty_tables(database.engine)


async def _faults(drill: Drill, **plan: Any) -> None:
    response = await drill.client.put(
        "/api/ops/faults", json={"path_prefix": TRAFFIC_PATH, **plan}, headers=AUTH
    )
    assert response.status_code == 200, response.text


async def _clear_faults(drill: Drill) -> None:
    assert (await drill.client.delete("/api/ops/faults", headers=AUTH)).status_code == 204


async def _fill_disk(drill: Drill) -> None:
    drill.source.overrides["flow_data_dir_disk_used_ratio"] = 0.96


async def _free_disk(drill: Drill) -> None:
    drill.source.overrides.clear()


async def _exhaust_pool(drill: Drill) -> None:
    # Hold 13 of the 15 connections (pool 5/10 + overflow 10/5 on SQLite/PostgreSQL): 87 %.
    engine = drill.operations.context.engine
    drill.held.extend([await engine.connect() for _ in range(13)])


async def _release_pool(drill: Drill) -> None:
    while drill.held:
        await drill.held.pop().close()


Action = Callable[[Drill], Awaitable[None]]
DRILLS: dict[str, tuple[Action, Action]] = {
    "HighResponseTimeP95": (lambda d: _faults(d, latency_ms=2100), _clear_faults),
    "HighErrorRate": (lambda d: _faults(d, error_rate=1.0), _clear_faults),
    "HighDiskUsage": (_fill_disk, _free_disk),
    "DatabasePoolSaturated": (_exhaust_pool, _release_pool),
}


@pytest.mark.parametrize("alert", list(DRILLS))
async def test_breaking_the_app_drives_the_default_alert_through_its_lifecycle(
    drill: Drill, alert: str
) -> None:
    break_it, fix_it = DRILLS[alert]
    await drill.operations.sample_once()  # the baseline reading
    await break_it(drill)
    await drill.tick(15)
    assert await drill.state(alert) == "pending"
    await drill.tick(300)  # the rule's `for: 5m` has passed
    assert await drill.state(alert) == "firing"
    assert drill.notified() == [("firing", alert)]

    await fix_it(drill)
    await drill.tick(15)
    assert await drill.state(alert) == "firing"  # keep_firing_for 5m: no flapping
    await drill.tick(300)
    assert await drill.state(alert) == "resolved"
    assert drill.notified() == [("firing", alert), ("resolved", alert)]

    history = (
        await drill.client.get("/api/alerts/history", params={"name": alert}, headers=AUTH)
    ).json()
    steps = [(item["from_state"], item["to_state"]) for item in reversed(history["items"])]
    assert steps == [("inactive", "pending"), ("pending", "firing"), ("firing", "resolved")]
