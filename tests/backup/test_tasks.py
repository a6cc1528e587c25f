"""The backup jobs: the daily backup + drill, and the watch whose samples raise BackupTooOld
and BackupDrillFailed through the alert engine's ordinary lifecycle (firing, history,
notifications, resolution)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from intuitivus_flow.alerts.engine import EngineOptions, evaluate
from intuitivus_flow.alerts.models import Alert, AlertTransition, NotificationDelivery
from intuitivus_flow.alerts.notifications.service import Channel, Destination, Notifier
from intuitivus_flow.alerts.rules import default_rules
from intuitivus_flow.backup import service, tasks
from intuitivus_flow.backup.status import DrillStatus, last_drill, record_drill
from intuitivus_flow.backup.store import store_for
from intuitivus_flow.config import Settings
from intuitivus_flow.jobs.context import JobContext
from intuitivus_flow.jobs.models import Job
from intuitivus_flow.kit.db import create_engine, create_session_factory, unit_of_work
from tests.backup.conftest import Place, seed


def _context(session: object, settings: Settings, now: datetime) -> JobContext:
    job = Job(id=uuid.uuid4(), kind=tasks.WATCH, queue="default", payload={})
    return JobContext(
        session=session,  # type: ignore[arg-type]
        job=job,
        worker="test-worker",
        settings=settings,
        sessions=None,  # type: ignore[arg-type]
        secrets=None,  # type: ignore[arg-type]
        outbound=None,  # type: ignore[arg-type]
        clock=lambda: now,
    )


async def _watch_and_evaluate(settings: Settings, now: datetime) -> dict[str, str]:
    """One watch job and one evaluation at `now`: the backup alerts' states by name."""
    engine = create_engine(settings)
    notifier = Notifier(
        destinations=[Destination(Channel.webhook, "https://hooks.example/ops")], transports={}
    )
    try:
        sessions = create_session_factory(engine)
        async with unit_of_work(sessions) as session:
            await tasks.watch_backups(_context(session, settings, now))
        async with unit_of_work(sessions) as session:
            await evaluate(
                session, default_rules(), now=now, notifier=notifier, options=EngineOptions()
            )
        async with unit_of_work(sessions) as session:
            alerts = (await session.scalars(select(Alert))).all()
            return {alert.name: alert.state for alert in alerts if alert.name.startswith("Backup")}
    finally:
        await engine.dispose()


async def _count(settings: Settings, model: type) -> int:
    engine = create_engine(settings)
    try:
        async with unit_of_work(create_session_factory(engine)) as session:
            return len((await session.scalars(select(model))).all())
    finally:
        await engine.dispose()


async def test_the_watch_raises_and_resolves_the_backup_alerts(tmp_path: object) -> None:
    place = Place("sqlite", tmp_path)  # type: ignore[arg-type]
    settings = (await place.make_database()).model_copy(update={"backup_watch": True})
    store = store_for(settings)
    now = datetime.now(UTC)

    # No backup at all: BackupTooOld fires at once (no `for`), with a notification queued.
    assert await _watch_and_evaluate(settings, now) == {"BackupTooOld": "firing"}
    assert await _count(settings, NotificationDelivery) == 1

    created = await service.create_backup(settings, store)
    record_drill(
        store,
        DrillStatus(
            backup=created.name,
            finished_at=now,
            ok=False,
            restore_seconds=0.1,
            rpo_seconds=1.0,
            problems=["1 paid invoices without a succeeded payment"],
        ),
    )
    later = now + timedelta(minutes=1)
    states = await _watch_and_evaluate(settings, later)
    assert states["BackupDrillFailed"] == "firing"
    # fresh again, but kept firing for keep_firing_for (10m) so a late sample cannot flap it
    assert states["BackupTooOld"] == "firing"

    await service.drill_and_record(settings, store)  # a real drill, which passes
    drill = last_drill(store)
    assert drill is not None
    assert drill.ok
    much_later = later + timedelta(minutes=11)
    assert await _watch_and_evaluate(settings, much_later) == {
        "BackupTooOld": "resolved",
        "BackupDrillFailed": "resolved",
    }
    assert await _count(settings, AlertTransition) == 4  # two fired, two resolved


async def test_the_watch_is_off_unless_configured(tmp_path: object) -> None:
    place = Place("sqlite", tmp_path)  # type: ignore[arg-type]
    settings = await place.make_database()
    now = datetime.now(UTC)
    assert await _watch_and_evaluate(settings, now) == {}


async def test_the_daily_job_backs_up_prunes_and_drills(tmp_path: object) -> None:
    place = Place("sqlite", tmp_path)  # type: ignore[arg-type]
    settings = (await place.make_database()).model_copy(update={"backup_daily_job": True})
    await seed(settings)
    engine = create_engine(settings)
    try:
        async with unit_of_work(create_session_factory(engine)) as session:
            result = await tasks.daily_backup(_context(session, settings, datetime.now(UTC)))
    finally:
        await engine.dispose()

    assert result["drill"] == "passed"
    assert [item.name for item in store_for(settings).list()] == [result["backup"]]
    drill = last_drill(store_for(settings))
    assert drill is not None
    assert drill.ok
    assert drill.backup == result["backup"]

    off = settings.model_copy(update={"backup_daily_job": False})
    engine = create_engine(off)
    try:
        async with unit_of_work(create_session_factory(engine)) as session:
            skipped = await tasks.daily_backup(_context(session, off, datetime.now(UTC)))
    finally:
        await engine.dispose()
    assert "skipped" in skipped
