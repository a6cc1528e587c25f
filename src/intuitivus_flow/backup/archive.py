"""One backup = one tar file: `manifest.json` first, then the payload (a `pg_dump -Fc` file or
a SQLite database). Tar needs no new dependency, streams, and lets `list` read the manifest
without reading the payload; the payload is already compressed (pg_dump) or compresses
poorly enough (SQLite pages) not to be worth a second pass.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

from pydantic import ValidationError

from intuitivus_flow.backup.exceptions import BackupCorrupt
from intuitivus_flow.backup.manifest import FORMAT_VERSION, Manifest

MANIFEST_NAME = "manifest.json"
SUFFIX = ".flowbak"
_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_archive(destination: Path, manifest: Manifest, payload: Path) -> None:
    """Write the archive under a temporary name and rename it, so a crash leaves no half file
    under a backup's name."""
    partial = destination.with_name(destination.name + ".partial")
    body = manifest.model_dump_json(indent=2).encode()
    with tarfile.open(partial, "w") as archive:
        info = tarfile.TarInfo(MANIFEST_NAME)
        info.size = len(body)
        info.mtime = int(manifest.created_at.timestamp())
        archive.addfile(info, io.BytesIO(body))
        archive.add(payload, arcname=manifest.payload_name, recursive=False)
    partial.replace(destination)


def _damaged(path: Path, why: str) -> BackupCorrupt:
    return BackupCorrupt(f"{path.name} is not a usable backup: {why}; nothing was changed")


def read_manifest(path: Path) -> Manifest:
    """The archive's manifest; BackupCorrupt when the file is not a whole, readable backup."""
    try:
        with tarfile.open(path, "r:") as archive:
            member = archive.getmember(MANIFEST_NAME)
            handle = archive.extractfile(member)
            if handle is None:
                raise _damaged(path, "its manifest is not a file")
            data = json.loads(handle.read())
            manifest = Manifest.model_validate(data)
            payload = archive.getmember(manifest.payload_name)
    except KeyError as exc:
        raise _damaged(path, f"{exc.args[0]} missing (truncated?)") from None
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise _damaged(path, f"unreadable archive ({exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError, ValidationError):
        raise _damaged(path, "its manifest is not valid") from None
    if manifest.format_version > FORMAT_VERSION:
        raise _damaged(path, f"format {manifest.format_version} is newer than this version's")
    if payload.size != manifest.payload_bytes:
        raise _damaged(
            path, f"payload holds {payload.size} bytes, manifest says {manifest.payload_bytes}"
        )
    return manifest


def extract_payload(path: Path, manifest: Manifest, directory: Path) -> Path:
    """Copy the payload out of the archive into `directory`, checking its SHA-256 on the way."""
    target = directory / Path(manifest.payload_name).name
    digest = hashlib.sha256()
    try:
        with tarfile.open(path, "r:") as archive:
            handle = archive.extractfile(manifest.payload_name)
            if handle is None:
                raise _damaged(path, "its payload is not a file")
            with target.open("wb") as out:
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
    except (tarfile.TarError, EOFError, KeyError) as exc:
        target.unlink(missing_ok=True)
        raise _damaged(path, f"payload unreadable ({exc})") from None
    if digest.hexdigest() != manifest.payload_sha256:
        target.unlink(missing_ok=True)
        raise _damaged(path, "payload checksum mismatch (corrupted)")
    return target


def verify(path: Path) -> Manifest:
    """Read the whole archive and check the payload's checksum without keeping a copy."""
    manifest = read_manifest(path)
    digest = hashlib.sha256()
    try:
        with tarfile.open(path, "r:") as archive:
            handle = archive.extractfile(manifest.payload_name)
            if handle is None:
                raise _damaged(path, "its payload is not a file")
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    except (tarfile.TarError, EOFError) as exc:
        raise _damaged(path, f"payload unreadable ({exc})") from None
    if digest.hexdigest() != manifest.payload_sha256:
        raise _damaged(path, "payload checksum mismatch (corrupted)")
    return manifest
