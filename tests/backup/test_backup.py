"""create / list / verify / restore / drill on both engines, and every refusal changing nothing."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from intuitivus_flow.backup import archive, service
from intuitivus_flow.backup.databases import PostgresServer, sqlite_path
from intuitivus_flow.backup.exceptions import (
    BackupCorrupt,
    BackupFromNewerSchema,
    BackupNotFound,
    TargetNotEmpty,
    WrongEngine,
)
from intuitivus_flow.backup.snapshot import DatabaseSnapshot, sqlite_snapshot
from intuitivus_flow.backup.store import LocalStore
from intuitivus_flow.config import Settings
from tests.backup.conftest import Place, seed

pytestmark = pytest.mark.slow


async def read_back(place: Place, settings: Settings) -> DatabaseSnapshot:
    url = settings.resolved_database_url
    if place.kind == "sqlite":
        return sqlite_snapshot(sqlite_path(url))
    server = PostgresServer.from_url(url)
    return await server.snapshot(server.database)


@dataclass
class BackedUp:
    source: Settings
    store: LocalStore
    created: service.CreatedBackup


@pytest.fixture(scope="module")
async def backed_up(place: Place) -> BackedUp:
    """A seeded database and one backup of it, shared by the module's tests (which restore
    elsewhere, or restore this same backup back into it)."""
    source = await place.make_database()
    await seed(source)
    store = place.store()
    return BackedUp(source, store, await service.create_backup(source, store))


@pytest.fixture(scope="module")
async def empty_target(place: Place) -> tuple[Settings, DatabaseSnapshot]:
    """A migrated database without rows: the refusal tests check it stays exactly so."""
    target = await place.make_database()
    return target, await read_back(place, target)


async def test_round_trip_create_list_verify_drill_restore(
    place: Place, backed_up: BackedUp
) -> None:
    store, created = backed_up.store, backed_up.created

    assert [item.name for item in store.list()] == [created.name]
    manifest = await service.verify_backup(store, created.name)
    assert manifest.engine == place.kind
    assert manifest.tables["users"].rows == 1
    assert manifest.tables["billing_invoices"].rows == 2
    assert manifest.migration_heads
    assert manifest.newest_row_at is not None

    report = await service.run_drill(backed_up.source, store)
    assert report.problems == []
    assert report.rows == manifest.total_rows
    assert report.restore_seconds > 0
    assert report.rpo_seconds is not None
    assert report.rpo_seconds >= 0

    target = place.make_settings()  # a database that does not exist yet
    restored = await service.restore_backup(target, store, created.name)
    assert restored.manifest.total_rows == manifest.total_rows
    assert (await read_back(place, target)).tables == manifest.tables


async def test_restore_into_a_database_with_data_needs_force(
    place: Place, backed_up: BackedUp
) -> None:
    source, store, created = backed_up.source, backed_up.store, backed_up.created
    await seed(source)  # written after the backup
    before = await read_back(place, source)
    assert before.tables != created.manifest.tables

    with pytest.raises(TargetNotEmpty, match="--force"):
        await service.restore_backup(source, store, created.name)
    assert (await read_back(place, source)).tables == before.tables

    await service.restore_backup(source, store, created.name, force=True)
    assert (await read_back(place, source)).tables == created.manifest.tables


async def test_a_corrupted_backup_is_refused_and_changes_nothing(
    place: Place, backed_up: BackedUp, empty_target: tuple[Settings, DatabaseSnapshot]
) -> None:
    store = backed_up.store
    damaged = place.root / "damaged.flowbak"
    data = bytearray(store.fetch(backed_up.created.name).read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the payload: the archive still reads
    damaged.write_bytes(bytes(data))
    target, before = empty_target

    with pytest.raises(BackupCorrupt, match="checksum mismatch"):
        await service.verify_backup(store, str(damaged))
    with pytest.raises(BackupCorrupt, match="nothing was changed"):
        await service.restore_backup(target, store, str(damaged))
    assert (await read_back(place, target)).tables == before.tables


async def test_a_truncated_backup_is_refused_and_changes_nothing(
    place: Place, backed_up: BackedUp, empty_target: tuple[Settings, DatabaseSnapshot]
) -> None:
    store = backed_up.store
    truncated = place.root / "truncated.flowbak"
    truncated.write_bytes(store.fetch(backed_up.created.name).read_bytes()[:4000])
    target, before = empty_target

    with pytest.raises(BackupCorrupt, match=r"truncated\.flowbak is not a usable backup"):
        await service.restore_backup(target, store, str(truncated))
    assert (await read_back(place, target)).tables == before.tables


def _with_manifest(original: Path, destination: Path, **changes: object) -> None:
    """Rewrite an archive's manifest (what a newer version would have written)."""
    with tarfile.open(original) as source, tarfile.open(destination, "w") as out:
        for member in source.getmembers():
            handle = source.extractfile(member)
            assert handle is not None
            body = handle.read()
            if member.name == archive.MANIFEST_NAME:
                body = json.dumps({**json.loads(body), **changes}).encode()
                member.size = len(body)
            out.addfile(member, io.BytesIO(body))


async def test_a_backup_from_a_newer_schema_is_refused_and_changes_nothing(
    place: Place, backed_up: BackedUp, empty_target: tuple[Settings, DatabaseSnapshot]
) -> None:
    store = backed_up.store
    newer = place.root / "newer.flowbak"
    original = store.fetch(backed_up.created.name)
    _with_manifest(original, newer, migration_heads=["9999_from_the_future"])
    target, before = empty_target

    with pytest.raises(BackupFromNewerSchema, match="9999_from_the_future"):
        await service.restore_backup(target, store, str(newer))
    with pytest.raises(BackupFromNewerSchema):
        await service.verify_backup(store, str(newer))
    assert (await read_back(place, target)).tables == before.tables


async def test_a_backup_of_the_other_engine_is_refused(
    place: Place, backed_up: BackedUp, empty_target: tuple[Settings, DatabaseSnapshot]
) -> None:
    store = backed_up.store
    other = "postgresql" if place.kind == "sqlite" else "sqlite"
    foreign = place.root / "foreign.flowbak"
    _with_manifest(store.fetch(backed_up.created.name), foreign, engine=other)
    target, before = empty_target

    with pytest.raises(WrongEngine, match=f"is a {other} backup"):
        await service.restore_backup(target, store, str(foreign))
    assert (await read_back(place, target)).tables == before.tables


async def test_the_drill_fails_loudly_on_a_broken_invariant(place: Place) -> None:
    source = await place.make_database()
    await seed(source, paid_without_payment=True)
    store = place.store()
    await service.create_backup(source, store)

    report = await service.run_drill(source, store)

    assert not report.ok
    assert report.problems == ["1 paid invoices without a succeeded payment"]


async def test_unknown_backups_are_named_in_one_line(place: Place) -> None:
    settings = place.make_settings()
    store = place.store()
    with pytest.raises(BackupNotFound, match="no backup in"):
        await service.run_drill(settings, store)
    with pytest.raises(BackupNotFound, match=r"no backup file at /nowhere/x\.flowbak"):
        await service.verify_backup(store, "/nowhere/x.flowbak")
