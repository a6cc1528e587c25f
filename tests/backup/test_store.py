"""The S3 store against a real S3-compatible server (moto's, on a loopback port), and the
retention policy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from intuitivus_flow.backup import service
from intuitivus_flow.backup.exceptions import BackupNotFound
from intuitivus_flow.backup.retention import RetentionPolicy
from intuitivus_flow.backup.store import S3Store, StoredBackup, backup_name, store_for
from intuitivus_flow.config import Settings
from intuitivus_flow.kit import migrations
from intuitivus_flow.kit.db import create_engine
from tests.backup.conftest import seed


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_settings(s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    bucket = f"flow-{tmp_path.name.lower().replace('_', '-')[-40:]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    return Settings(
        env="test",
        data_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'flow.db'}",
        backup_s3_bucket=bucket,
        backup_s3_endpoint_url=s3_endpoint,
        backup_s3_prefix="prod/",
    )


async def test_backups_round_trip_through_an_s3_bucket(s3_settings: Settings) -> None:
    engine = create_engine(s3_settings)
    await migrations.upgrade(engine)
    await engine.dispose()
    await seed(s3_settings)
    store = store_for(s3_settings)
    assert isinstance(store, S3Store)

    created = await service.create_backup(s3_settings, store)

    keys = boto3.client("s3", endpoint_url=s3_settings.backup_s3_endpoint_url).list_objects_v2(
        Bucket=s3_settings.backup_s3_bucket
    )["Contents"]
    assert [item["Key"] for item in keys] == [f"prod/{created.name}"]
    assert [item.name for item in store.list()] == [created.name]
    report = await service.run_drill(s3_settings, store)
    assert report.problems == []
    assert report.rows == created.manifest.total_rows
    # the drill's downloaded copy is not kept beside the bucket's
    assert list((s3_settings.data_dir / "backups").glob("*.flowbak")) == []

    store.delete(created.name)
    assert store.list() == []
    with pytest.raises(BackupNotFound, match="no backup"):
        store.fetch(created.name)


def _backups(*moments: datetime) -> list[StoredBackup]:
    return [StoredBackup(backup_name("sqlite", m), 1, m, "sqlite") for m in moments]


def test_retention_keeps_the_newest_per_day_and_per_week() -> None:
    start = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # a Monday
    # Five weeks of a backup at 02:00 and another at 14:00 every day.
    moments = [start + timedelta(days=d, hours=h) for d in range(35) for h in (0, 12)]
    backups = _backups(*moments)

    kept = RetentionPolicy(keep_daily=3, keep_weekly=2).kept(backups)

    last_day = start + timedelta(days=34)
    expected_daily = {last_day - timedelta(days=d) + timedelta(hours=12) for d in range(3)}
    # the newest of each of the two newest ISO weeks: this Sunday's and last Sunday's
    expected_weekly = {last_day + timedelta(hours=12), last_day - timedelta(days=7, hours=-12)}
    expected = {backup_name("sqlite", moment) for moment in expected_daily | expected_weekly}
    assert kept == expected
    expired = RetentionPolicy(keep_daily=3, keep_weekly=2).expired(backups)
    assert len(expired) == len(backups) - len(expected)


def test_retention_always_keeps_the_newest_backup() -> None:
    only = _backups(datetime(2020, 1, 1, tzinfo=UTC))
    assert RetentionPolicy(keep_daily=1, keep_weekly=0).expired(only) == []
    assert RetentionPolicy(keep_daily=1, keep_weekly=0).kept([]) == set()
