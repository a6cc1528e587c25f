"""Import failures a client can fix: too big (413) or bad content (422, every bad row listed)."""

from __future__ import annotations

from typing import Any

from intuitivus_flow.kit.errors import FlowError, InvalidInput


class ImportTooLarge(FlowError):
    status_code = 413
    type = "payload-too-large"
    title = "Payload too large"


class ImportRejected(InvalidInput):
    """Nothing was written: `errors` lists bad rows as {file, line, field, message}."""

    type = "import-invalid"
    title = "The import did not validate"

    def __init__(self, errors: list[dict[str, Any]], *, total: int) -> None:
        shown = len(errors)
        detail = f"{total} problem(s) found; nothing was imported."
        if total > shown:
            detail += f" The first {shown} are listed."
        super().__init__(detail, errors=errors, errors_total=total, errors_omitted=total - shown)
        self.errors = errors
        self.total = total


class UploadGone(FlowError):
    """A queued import's upload is no longer in the database (its outcome was recorded)."""

    status_code = 410
    type = "import-upload-gone"
    title = "The uploaded file is gone"
