"""The state the backup alerts read: is the newest backup fresh, did the last drill pass.

The drill's outcome is a note in the backup store (`drill-status.json`), written by every
drill, the periodic job's and the CronJob's alike, so the app sees drills that ran elsewhere.
Each minute the `backup.watch` job turns this into two metric-history samples, `backup_fresh`
and `backup_drill_ok` (1/0), which the default rules BackupTooOld and BackupDrillFailed watch
through the ordinary alert lifecycle (pending, firing, notifications, resolution).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ValidationError

from intuitivus_flow.backup.store import BackupStore

DRILL_NOTE = "drill-status.json"
FRESH_SIGNAL = "backup_fresh"
DRILL_SIGNAL = "backup_drill_ok"


class DrillStatus(BaseModel):
    backup: str
    finished_at: datetime
    ok: bool
    restore_seconds: float
    rpo_seconds: float | None
    problems: list[str]


def record_drill(store: BackupStore, status: DrillStatus) -> None:
    store.write_note(DRILL_NOTE, status.model_dump_json(indent=2))


def last_drill(store: BackupStore) -> DrillStatus | None:
    text = store.read_note(DRILL_NOTE)
    if text is None:
        return None
    try:
        return DrillStatus.model_validate_json(text)
    except ValidationError:
        return None  # a damaged note reads as "no drill known", and the drill rewrites it


def health_samples(
    store: BackupStore, engine: str, *, now: datetime, max_age: timedelta
) -> dict[str, float]:
    """The signals' current values; a signal with nothing to say (no drill yet) is left out,
    which the engine reads as "no data", never as a breach."""
    backups = [item for item in store.list() if item.engine == engine]
    fresh = bool(backups) and now - backups[-1].created_at <= max_age
    samples = {FRESH_SIGNAL: float(fresh)}
    drill = last_drill(store)
    if drill is not None:
        # A drill that has not passed within the backup age limit no longer vouches for
        # today's backups: the daily drill stopped running.
        recent = now - drill.finished_at <= max_age
        samples[DRILL_SIGNAL] = float(drill.ok and recent)
    return samples
