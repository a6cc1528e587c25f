"""Which backups to keep: the newest of each of the last N days that have one, and the newest
of each of the last M ISO weeks that have one (grandfather-father-son without the months).
The newest backup is always kept, whatever the policy says."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

from intuitivus_flow.backup.store import StoredBackup


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    keep_daily: int
    keep_weekly: int

    def kept(self, backups: Iterable[StoredBackup]) -> set[str]:
        newest_first = sorted(backups, key=lambda item: item.created_at, reverse=True)
        if not newest_first:
            return set()
        keep = {newest_first[0].name}
        keep |= _newest_per_period(newest_first, self.keep_daily, lambda b: b.created_at.date())
        keep |= _newest_per_period(
            newest_first, self.keep_weekly, lambda b: b.created_at.isocalendar()[:2]
        )
        return keep

    def expired(self, backups: Iterable[StoredBackup]) -> list[StoredBackup]:
        items = list(backups)
        keep = self.kept(items)
        return [item for item in items if item.name not in keep]


def _newest_per_period(
    newest_first: list[StoredBackup], periods: int, period_of: Callable[[StoredBackup], Hashable]
) -> set[str]:
    seen: dict[Hashable, str] = {}
    for item in newest_first:
        period = period_of(item)
        if period not in seen:
            if len(seen) == periods:
                break
            seen[period] = item.name
    return set(seen.values())
