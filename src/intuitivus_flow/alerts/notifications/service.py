"""Telling people: Alertmanager-compatible webhooks, Slack-compatible webhooks and email.

The engine writes one `NotificationDelivery` per (alert group, firing/resolved, receiver) in
the same transaction as the state change (an outbox); `deliver` sends one of them and logs the
attempt in `notification_attempts`. A failure is retried later with exponential backoff
(2 s, 4 s, 8 s ... capped at 5 min) until `MAX_ATTEMPTS`; then the delivery is `failed`.

Every receiver gets the same neutral document, the Alertmanager webhook payload (version 4):
generic webhooks receive it as is, Slack gets a text rendering of it, email a subject and body.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.alerts.models import (
    Alert,
    AlertState,
    DeliveryState,
    NotificationAttempt,
    NotificationDelivery,
)
from intuitivus_flow.config import Settings
from intuitivus_flow.kit.mail import Mail, MailError, mail_sender

MAX_ATTEMPTS = 6
BACKOFF_BASE = timedelta(seconds=2)
BACKOFF_CAP = timedelta(minutes=5)
SEND_TIMEOUT_SECONDS = 10.0
RECEIVER_NAME = "intuitivus-flow"
# Alertmanager's "not ended yet" timestamp (Go's zero time).
OPEN_END = "0001-01-01T00:00:00Z"
MAX_ERROR_LENGTH = 500


class Channel(StrEnum):
    webhook = "webhook"
    slack = "slack"
    email = "email"


@dataclass(frozen=True, slots=True)
class Destination:
    """Where one receiver lives. `address` may hold a secret (a token in a webhook URL)."""

    channel: Channel
    address: str

    @property
    def key(self) -> str:
        return hashlib.sha256(f"{self.channel}:{self.address}".encode()).hexdigest()[:32]

    @property
    def label(self) -> str:
        """A form safe to store and show: no path, query or credentials of a URL."""
        if self.channel is Channel.email:
            return self.address[:200]
        parts = urlsplit(self.address)
        return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}/…"


def destinations_from_settings(settings: Settings) -> list[Destination]:
    found = [
        Destination(Channel.webhook, url.get_secret_value()) for url in settings.alert_webhook_urls
    ]
    if settings.alert_slack_webhook_url is not None:
        found.append(
            Destination(Channel.slack, settings.alert_slack_webhook_url.get_secret_value())
        )
    if settings.alert_email_to and settings.smtp_host:
        found.append(Destination(Channel.email, ", ".join(settings.alert_email_to)))
    return found


# --- payloads ---------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str:
    return moment.isoformat().replace("+00:00", "Z") if moment else OPEN_END


def alert_document(alert: Alert, *, status: str, generator_url: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": alert.name, **alert.labels},
        "annotations": dict(alert.annotations),
        "startsAt": _iso(alert.fired_at or alert.active_at),
        "endsAt": _iso(alert.resolved_at) if status == AlertState.resolved else OPEN_END,
        "generatorURL": generator_url,
        "fingerprint": alert.fingerprint,
    }


def _common(mappings: Sequence[Mapping[str, str]]) -> dict[str, str]:
    if not mappings:
        return {}
    first = mappings[0]
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in mappings[1:])}


def alertmanager_payload(
    name: str, status: str, alerts: Sequence[Alert], *, external_url: str
) -> dict[str, Any]:
    """The document Alertmanager POSTs to a webhook receiver (version 4)."""
    documents = [
        alert_document(alert, status=status, generator_url=f"{external_url}/alerts")
        for alert in alerts
    ]
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{name}"}}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": RECEIVER_NAME,
        "groupLabels": {"alertname": name},
        "commonLabels": _common([doc["labels"] for doc in documents]),
        "commonAnnotations": _common([doc["annotations"] for doc in documents]),
        "externalURL": external_url,
        "alerts": documents,
    }


def headline(payload: Mapping[str, Any]) -> str:
    status = str(payload["status"]).upper()
    name = payload["groupLabels"].get("alertname", "alert")
    severity = payload["commonLabels"].get("severity", "")
    count = len(payload["alerts"])
    suffix = f" ({count} alerts)" if count > 1 else ""
    return f"[{status}] {name}{f' {severity}' if severity else ''}{suffix}"


def describe(payload: Mapping[str, Any]) -> str:
    lines = [headline(payload), ""]
    for alert in payload["alerts"]:
        annotations = alert["annotations"]
        labels = ", ".join(f"{k}={v}" for k, v in sorted(alert["labels"].items()))
        lines.append(f"- {annotations.get('summary') or alert['labels']['alertname']}")
        lines.append(f"  labels: {labels}")
        if annotations.get("value"):
            lines.append(f"  value: {annotations['value']}")
        lines.append(f"  since: {alert['startsAt']}")
        if alert["status"] == AlertState.resolved:
            lines.append(f"  resolved: {alert['endsAt']}")
        if annotations.get("runbook_url"):
            lines.append(f"  runbook: {annotations['runbook_url']}")
    return "\n".join(lines)


def slack_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {"text": describe(payload)}


# --- transports -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    status_code: int | None = None
    error: str | None = None


class Transport(Protocol):
    async def send(self, destination: Destination, payload: Mapping[str, Any]) -> SendResult: ...


class HttpTransport:
    """Webhook and Slack: a JSON POST; any 2xx is a success."""

    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        self._client = client

    async def send(self, destination: Destination, payload: Mapping[str, Any]) -> SendResult:
        body = dict(payload) if destination.channel is Channel.webhook else slack_payload(payload)
        try:
            if self._client is not None:
                response = await self._client.post(destination.address, json=body)
            else:
                async with httpx.AsyncClient(timeout=SEND_TIMEOUT_SECONDS) as client:
                    response = await client.post(destination.address, json=body)
        except httpx.HTTPError as exc:
            return SendResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH])
        if response.is_success:
            return SendResult(ok=True, status_code=response.status_code)
        return SendResult(ok=False, status_code=response.status_code, error="HTTP error status")


class SmtpTransport:
    """Email through the product's one mail sender (`kit/mail.py`)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def send(self, destination: Destination, payload: Mapping[str, Any]) -> SendResult:
        sender = mail_sender(self._settings)
        if sender is None:
            return SendResult(ok=False, error="FLOW_SMTP_HOST is not set")
        mail = Mail(to=destination.address, subject=headline(payload), text=describe(payload))
        try:
            await sender.send(mail)
        except MailError as exc:
            return SendResult(ok=False, error=str(exc)[:MAX_ERROR_LENGTH])
        return SendResult(ok=True)


@dataclass(frozen=True, slots=True)
class Notifier:
    """The configured receivers and how to reach each channel."""

    destinations: Sequence[Destination]
    transports: Mapping[Channel, Transport]

    @classmethod
    def from_settings(cls, settings: Settings) -> Notifier:
        http = HttpTransport()
        return cls(
            destinations=destinations_from_settings(settings),
            transports={
                Channel.webhook: http,
                Channel.slack: http,
                Channel.email: SmtpTransport(settings),
            },
        )

    def find(self, key: str) -> Destination | None:
        return next((d for d in self.destinations if d.key == key), None)


# --- outbox -----------------------------------------------------------------------------------


def queue(
    session: AsyncSession,
    notifier: Notifier,
    *,
    name: str,
    status: str,
    alerts: Sequence[Alert],
    external_url: str,
    now: datetime,
) -> int:
    """Add one delivery per receiver for this group of alerts; returns how many."""
    payload = alertmanager_payload(name, status, alerts, external_url=external_url)
    for destination in notifier.destinations:
        session.add(
            NotificationDelivery(
                group_key=payload["groupKey"],
                status=status,
                channel=destination.channel,
                target_key=destination.key,
                target_label=destination.label,
                payload=payload,
                state=DeliveryState.pending,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
    return len(notifier.destinations)


def backoff(attempts: int) -> timedelta:
    """Delay before the next try after `attempts` failures: 2 s, 4 s, 8 s ... at most 5 min."""
    delay: timedelta = BACKOFF_BASE * 2 ** max(0, attempts - 1)
    return min(delay, BACKOFF_CAP)


async def due_ids(session: AsyncSession, *, now: datetime, limit: int = 50) -> list[Any]:
    statement = (
        select(NotificationDelivery.id)
        .where(
            NotificationDelivery.state == DeliveryState.pending,
            NotificationDelivery.next_attempt_at <= now,
        )
        .order_by(NotificationDelivery.next_attempt_at)
        .limit(limit)
    )
    return list((await session.execute(statement)).scalars())


async def deliver(
    session: AsyncSession, delivery_id: Any, notifier: Notifier, *, now: datetime
) -> bool:
    """One attempt at one delivery, logged; returns whether it got through."""
    delivery = await session.get(NotificationDelivery, delivery_id, populate_existing=True)
    if delivery is None or delivery.state != DeliveryState.pending:
        return False
    result, elapsed_ms = await _attempt(delivery, notifier)
    delivery.attempts += 1
    session.add(
        NotificationAttempt(
            delivery_id=delivery.id,
            number=delivery.attempts,
            at=now,
            ok=result.ok,
            status_code=result.status_code,
            error=result.error,
            duration_ms=elapsed_ms,
        )
    )
    _settle(delivery, result, now)
    await session.flush()
    return result.ok


async def _attempt(delivery: NotificationDelivery, notifier: Notifier) -> tuple[SendResult, float]:
    destination = notifier.find(delivery.target_key)
    started = time.perf_counter()
    if destination is None:
        result = SendResult(ok=False, error="receiver no longer configured")
    else:
        result = await notifier.transports[destination.channel].send(destination, delivery.payload)
    return result, round((time.perf_counter() - started) * 1000, 2)


def _settle(delivery: NotificationDelivery, result: SendResult, now: datetime) -> None:
    if result.ok:
        delivery.state = DeliveryState.delivered
        delivery.delivered_at = now
        delivery.last_error = None
        return
    delivery.last_error = result.error
    if delivery.attempts >= MAX_ATTEMPTS:
        delivery.state = DeliveryState.failed
    else:
        delivery.next_attempt_at = now + backoff(delivery.attempts)
