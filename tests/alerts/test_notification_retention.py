"""Notification retention: the hourly prune deletes finished deliveries (delivered or given up)
older than the cutoff together with their attempts, in batches, and never a pending one
(both engines)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from intuitivus_flow.alerts import tasks
from intuitivus_flow.alerts.models import (
    AlertState,
    DeliveryState,
    NotificationAttempt,
    NotificationDelivery,
)
from intuitivus_flow.kit.db import SessionFactory, create_session_factory, unit_of_work
from tests.conftest import Database, empty_tables

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
CUTOFF = NOW - timedelta(days=30)


@pytest.fixture
async def sessions(database: Database) -> AsyncIterator[SessionFactory]:
    yield create_session_factory(database.engine)
    await empty_tables(database.engine)


async def _deliveries(sessions: SessionFactory, rows: list[tuple[DeliveryState, int]]) -> None:
    """One delivery per (state, age in days), each with two attempts."""
    async with unit_of_work(sessions) as session:
        for number, (state, age) in enumerate(rows):
            at = NOW - timedelta(days=age)
            delivery = NotificationDelivery(
                group_key=f"g{number}",
                status=AlertState.firing,
                channel="webhook",
                target_key="k" * 32,
                target_label="https://hooks.example/…",
                payload={"n": number},
                state=state,
                attempts=2,
                next_attempt_at=at,
                created_at=at,
            )
            session.add(delivery)
            await session.flush()
            for attempt in (1, 2):
                session.add(
                    NotificationAttempt(
                        delivery_id=delivery.id,
                        number=attempt,
                        at=at,
                        ok=attempt == 2,
                        status_code=200 if attempt == 2 else 503,
                        duration_ms=12.0,
                    )
                )


async def _left(sessions: SessionFactory) -> tuple[list[tuple[str, str]], int]:
    async with unit_of_work(sessions) as session:
        deliveries = (
            await session.execute(
                select(NotificationDelivery.group_key, NotificationDelivery.state).order_by(
                    NotificationDelivery.group_key
                )
            )
        ).all()
        attempts = (
            await session.execute(select(func.count()).select_from(NotificationAttempt))
        ).scalar_one()
    return [(key, str(state)) for key, state in deliveries], int(attempts)


async def test_finished_deliveries_past_the_cutoff_go_with_their_attempts(
    sessions: SessionFactory,
) -> None:
    await _deliveries(
        sessions,
        [
            (DeliveryState.delivered, 90),  # g0: goes
            (DeliveryState.failed, 45),  # g1: goes
            (DeliveryState.pending, 60),  # g2: still owed a send, kept
            (DeliveryState.delivered, 29),  # g3: within retention, kept
            (DeliveryState.delivered, 31),  # g4: goes
        ],
    )
    deleted = await tasks.prune(sessions, cutoff=CUTOFF, batch=2)
    assert deleted == 3
    deliveries, attempts = await _left(sessions)
    assert deliveries == [("g2", "pending"), ("g3", "delivered")]
    assert attempts == 4  # two each for the two kept


async def test_a_run_stops_after_its_batches(sessions: SessionFactory) -> None:
    await _deliveries(sessions, [(DeliveryState.delivered, 40 + n) for n in range(5)])
    deleted = await tasks.prune(sessions, cutoff=CUTOFF, batch=2, max_batches=2)
    assert deleted == 4  # the next run carries on
    deliveries, attempts = await _left(sessions)
    assert len(deliveries) == 1
    assert attempts == 2


def test_the_prune_is_registered_hourly() -> None:
    from intuitivus_flow.task_registry import DOMAIN_TASKS

    specs = [spec for task_list in DOMAIN_TASKS for spec in task_list]
    (prune,) = [spec for spec in specs if spec.kind == tasks.PRUNE]
    assert prune.every == timedelta(hours=1)
