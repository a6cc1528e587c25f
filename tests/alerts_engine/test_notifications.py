"""Notifications reach real local receivers (HTTP webhook, Slack-style webhook, SMTP), once
each way, and failures are retried with exponential backoff, every attempt logged."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from intuitivus_flow.alerts.models import NotificationAttempt
from intuitivus_flow.alerts.notifications.service import Notifier
from intuitivus_flow.alerts.rules import parse_rules
from intuitivus_flow.config import Settings
from intuitivus_flow.kit.db import unit_of_work
from tests.alerts_engine.harness import Harness, dispatch_due
from tests.alerts_engine.receivers import HttpReceiver, http_receiver, smtp_receiver

RULES = """
thresholds:
  - {name: HighDiskUsage, signal: disk_usage_percent, operator: ">", threshold: 90,
     for: 30s, keep_firing_for: 30s, severity: critical, summary: Disk almost full}
"""


@dataclass
class Receivers:
    http: HttpReceiver
    mailbox: list[Message]
    smtp_port: int

    def settings(self, data_dir: Path) -> Settings:
        return Settings(
            env="test",
            data_dir=data_dir,
            alert_webhook_urls=f"{self.http.url}/hook?token=secret-in-url",
            alert_slack_webhook_url=f"{self.http.url}/slack",
            alert_email_to="ops@example.com, oncall@example.com",
            smtp_host="127.0.0.1",
            smtp_port=self.smtp_port,
            smtp_starttls=False,
        )


@pytest.fixture
def receivers() -> Iterator[Receivers]:
    with http_receiver() as http, smtp_receiver() as (port, mailbox):
        yield Receivers(http=http, mailbox=mailbox, smtp_port=port)


@pytest.fixture
def harness(app: Any, receivers: Receivers, tmp_path: Path) -> Harness:
    notifier = Notifier.from_settings(receivers.settings(tmp_path))
    return Harness(
        context=app.state.context, rules=parse_rules(RULES, source="test"), notifier=notifier
    )


async def _tick(harness: Harness, disk: float) -> None:
    await harness.step({"disk_usage_percent": disk})
    await dispatch_due(harness.context, harness.notifier, harness.clock.now())


async def test_firing_and_resolved_reach_every_receiver_exactly_once(
    harness: Harness, receivers: Receivers
) -> None:
    for _ in range(6):  # pending, then firing after 30 s, then more firing ticks
        await _tick(harness, 97)
    for _ in range(4):  # recovered; resolved after keep_firing_for 30 s, then quiet ticks
        await _tick(harness, 40)

    hooks = receivers.http.bodies("/hook?token=secret-in-url")
    assert [body["status"] for body in hooks] == ["firing", "resolved"]
    firing = hooks[0]
    assert firing["version"] == "4"
    assert firing["groupLabels"] == {"alertname": "HighDiskUsage"}
    assert firing["alerts"][0]["labels"] == {
        "alertname": "HighDiskUsage",
        "instance": "web-1",
        "severity": "critical",
    }
    assert firing["alerts"][0]["annotations"]["value"] == "97"
    assert firing["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
    assert hooks[1]["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"

    slack = [body["text"] for body in receivers.http.bodies("/slack")]
    assert len(slack) == 2
    assert slack[0].startswith("[FIRING] HighDiskUsage critical")
    assert slack[1].startswith("[RESOLVED] HighDiskUsage critical")

    assert [m["Subject"] for m in receivers.mailbox] == [
        "[FIRING] HighDiskUsage critical",
        "[RESOLVED] HighDiskUsage critical",
    ]
    assert receivers.mailbox[0]["To"] == "ops@example.com, oncall@example.com"
    assert "Disk almost full" in receivers.mailbox[0].get_payload()

    deliveries = await harness.deliveries()
    assert len(deliveries) == 6  # 2 notifications x 3 receivers
    assert {d.state for d in deliveries} == {"delivered"}
    # The webhook URL's token is never stored.
    assert all("secret-in-url" not in d.target_label for d in deliveries)


async def test_failed_deliveries_are_retried_with_backoff_and_logged(
    harness: Harness, receivers: Receivers
) -> None:
    receivers.http.fail_first = 2  # the webhook answers 500 twice
    harness.notifier = Notifier(
        destinations=[d for d in harness.notifier.destinations if d.channel == "webhook"],
        transports=harness.notifier.transports,
    )
    for _ in range(3):
        await harness.step({"disk_usage_percent": 99})
    now = harness.clock.now()
    assert await dispatch_due(harness.context, harness.notifier, now) == 0  # 500
    (delivery,) = await harness.deliveries()
    assert delivery.state == "pending"
    assert (delivery.next_attempt_at - now).total_seconds() == 2  # first backoff
    assert await dispatch_due(harness.context, harness.notifier, now) == 0  # not due yet
    harness.clock.advance(seconds=2)
    assert await dispatch_due(harness.context, harness.notifier, harness.clock.now()) == 0
    (delivery,) = await harness.deliveries()
    assert (delivery.next_attempt_at - harness.clock.now()).total_seconds() == 4  # doubled
    harness.clock.advance(seconds=4)
    assert await dispatch_due(harness.context, harness.notifier, harness.clock.now()) == 1

    (delivery,) = await harness.deliveries()
    assert delivery.state == "delivered"
    assert delivery.attempts == 3
    async with unit_of_work(harness.context.sessions) as session:
        attempts = list(
            (
                await session.execute(
                    select(NotificationAttempt).order_by(NotificationAttempt.number)
                )
            ).scalars()
        )
    assert [(a.number, a.ok, a.status_code) for a in attempts] == [
        (1, False, 500),
        (2, False, 500),
        (3, True, 200),
    ]
    assert len(receivers.http.bodies("/hook?token=secret-in-url")) == 1


async def test_unreachable_receiver_gives_up_after_the_last_attempt(harness: Harness) -> None:
    from intuitivus_flow.alerts.notifications import service as notifications
    from intuitivus_flow.alerts.notifications.service import Channel, Destination, HttpTransport

    dead = Destination(Channel.webhook, "http://127.0.0.1:9/unreachable")
    harness.notifier = Notifier(destinations=[dead], transports={Channel.webhook: HttpTransport()})
    for _ in range(3):
        await harness.step({"disk_usage_percent": 99})
    for _ in range(notifications.MAX_ATTEMPTS):
        await dispatch_due(harness.context, harness.notifier, harness.clock.now())
        harness.clock.advance(minutes=6)  # past any backoff
    (delivery,) = await harness.deliveries()
    assert delivery.state == "failed"
    assert delivery.attempts == notifications.MAX_ATTEMPTS
    assert delivery.last_error
    assert "ConnectError" in delivery.last_error
