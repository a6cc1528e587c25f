"""Why a backup, restore or drill was refused; each message is one readable line."""

from __future__ import annotations

from intuitivus_flow.kit.errors import FlowError


class BackupError(FlowError):
    status_code = 422
    type = "backup-refused"
    title = "Backup refused"


class BackupNotFound(BackupError):
    status_code = 404
    type = "not-found"
    title = "No such backup"


class BackupCorrupt(BackupError):
    title = "The backup is damaged"


class BackupFromNewerSchema(BackupError):
    title = "The backup comes from a newer version"


class WrongEngine(BackupError):
    title = "The backup is for another database engine"


class TargetNotEmpty(BackupError):
    status_code = 409
    type = "conflict"
    title = "The database is not empty"


class ToolMissing(BackupError):
    title = "A PostgreSQL client tool is missing"


class DrillFailed(BackupError):
    title = "The restore drill failed"
