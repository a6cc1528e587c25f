"""Where backups live: a local directory, or an S3-compatible bucket (boto3).

Both hold the same archives under the same names; the bucket's are downloaded into the local
directory before anything reads them (restore needs a seekable file anyway).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from intuitivus_flow.backup.archive import SUFFIX
from intuitivus_flow.backup.exceptions import BackupError, BackupNotFound
from intuitivus_flow.config import Settings

# flow-<engine>-<UTC time>.flowbak: the name alone orders backups and tells their time.
NAME = re.compile(r"^flow-(postgresql|sqlite)-(\d{8}T\d{6}\d{6}Z)" + re.escape(SUFFIX) + "$")
TIME_FORMAT = "%Y%m%dT%H%M%S%fZ"


def backup_name(engine: str, created_at: datetime) -> str:
    return f"flow-{engine}-{created_at.astimezone(UTC).strftime(TIME_FORMAT)}{SUFFIX}"


@dataclass(frozen=True, slots=True)
class StoredBackup:
    name: str
    size: int
    created_at: datetime
    engine: str


def parse_name(name: str, size: int) -> StoredBackup | None:
    match = NAME.match(name)
    if match is None:
        return None
    created = datetime.strptime(match.group(2), TIME_FORMAT).replace(tzinfo=UTC)
    return StoredBackup(name, size, created, match.group(1))


class BackupStore(Protocol):
    description: str

    def put(self, archive: Path, name: str) -> None: ...

    def list(self) -> list[StoredBackup]:
        """Backups, oldest first."""
        ...

    def fetch(self, name: str) -> Path:
        """A local, readable path of the backup."""
        ...

    def release(self, path: Path) -> None:
        """Done with a path `fetch` gave: a downloaded copy is removed, a local file kept."""
        ...

    def delete(self, name: str) -> None: ...

    def write_note(self, name: str, text: str) -> None:
        """A small status file beside the backups (the last drill's outcome)."""
        ...

    def read_note(self, name: str) -> str | None: ...


def _check_name(name: str) -> None:
    if NAME.match(name) is None:
        raise BackupNotFound(f"{name!r} is not a backup name (flow-<engine>-<time>{SUFFIX})")


class LocalStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.description = str(directory)

    def put(self, archive: Path, name: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = self.directory / (name + ".partial")
        shutil.move(archive, partial)
        partial.replace(self.directory / name)

    def list(self) -> list[StoredBackup]:
        if not self.directory.is_dir():
            return []
        found = (parse_name(path.name, path.stat().st_size) for path in self.directory.iterdir())
        return sorted((item for item in found if item), key=lambda item: item.created_at)

    def fetch(self, name: str) -> Path:
        _check_name(name)
        path = self.directory / name
        if not path.is_file():
            raise BackupNotFound(f"no backup named {name} in {self.directory}")
        return path

    def release(self, path: Path) -> None:
        return None

    def delete(self, name: str) -> None:
        _check_name(name)
        (self.directory / name).unlink(missing_ok=True)

    def write_note(self, name: str, text: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = self.directory / (name + ".partial")
        partial.write_text(text)
        partial.replace(self.directory / name)

    def read_note(self, name: str) -> str | None:
        path = self.directory / name
        return path.read_text() if path.is_file() else None


class S3Store:
    """Backups as objects `<prefix><name>`; downloads are cached in the local directory."""

    def __init__(self, client: Any, bucket: str, prefix: str, cache: Path) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.cache = cache
        self.description = f"s3://{bucket}/{prefix}"

    @classmethod
    def from_settings(cls, settings: Settings, cache: Path) -> S3Store:
        import boto3  # imported here: only deployments with a bucket pay for it

        client = boto3.client("s3", endpoint_url=settings.backup_s3_endpoint_url)
        return cls(client, str(settings.backup_s3_bucket), settings.backup_s3_prefix, cache)

    def _call(self, action: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, action)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in {"404", "NoSuchKey", "NotFound"}:
                raise BackupNotFound(
                    f"no backup {kwargs.get('Key')} in {self.description}"
                ) from None
            raise BackupError(f"{self.description}: {code or exc}") from None
        except BotoCoreError as exc:
            raise BackupError(f"{self.description}: {exc}") from None

    def put(self, archive: Path, name: str) -> None:
        self._call("upload_file", Filename=str(archive), Bucket=self.bucket, Key=self.prefix + name)
        archive.unlink(missing_ok=True)

    def list(self) -> list[StoredBackup]:
        found: list[StoredBackup] = []
        token: dict[str, str] = {}
        while True:
            page = self._call("list_objects_v2", Bucket=self.bucket, Prefix=self.prefix, **token)
            for item in page.get("Contents", []):
                parsed = parse_name(str(item["Key"])[len(self.prefix) :], int(item["Size"]))
                if parsed:
                    found.append(parsed)
            if not page.get("IsTruncated"):
                return sorted(found, key=lambda item: item.created_at)
            token = {"ContinuationToken": page["NextContinuationToken"]}

    def fetch(self, name: str) -> Path:
        _check_name(name)
        self.cache.mkdir(parents=True, exist_ok=True)
        target = self.cache / name
        partial = self.cache / (name + ".partial")
        self._call(
            "download_file", Bucket=self.bucket, Key=self.prefix + name, Filename=str(partial)
        )
        partial.replace(target)
        return target

    def release(self, path: Path) -> None:
        # Only the copies this store downloaded; a file the operator named stays.
        if path.parent == self.cache and NAME.match(path.name):
            path.unlink(missing_ok=True)

    def delete(self, name: str) -> None:
        _check_name(name)
        self._call("delete_object", Bucket=self.bucket, Key=self.prefix + name)
        (self.cache / name).unlink(missing_ok=True)

    def write_note(self, name: str, text: str) -> None:
        self._call("put_object", Bucket=self.bucket, Key=self.prefix + name, Body=text.encode())

    def read_note(self, name: str) -> str | None:
        try:
            answer = self._call("get_object", Bucket=self.bucket, Key=self.prefix + name)
        except BackupNotFound:
            return None
        return bytes(answer["Body"].read()).decode()


def backup_directory(settings: Settings) -> Path:
    return settings.backup_dir or settings.data_dir / "backups"


def store_for(settings: Settings) -> BackupStore:
    directory = backup_directory(settings)
    if settings.backup_s3_bucket:
        return S3Store.from_settings(settings, directory)
    return LocalStore(directory)
