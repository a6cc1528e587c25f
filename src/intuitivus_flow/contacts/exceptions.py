"""A contacts import a client can fix: too big (413) or bad content (422, each problem listed)."""

from __future__ import annotations

from collections.abc import Sequence

from intuitivus_flow.contacts.schemas import ImportProblem, ImportReport
from intuitivus_flow.kit.errors import FlowError, InvalidInput


class ContactImportTooLarge(FlowError):
    status_code = 413
    type = "payload-too-large"
    title = "Payload too large"


class ContactImportRejected(InvalidInput):
    """Nothing was written: `errors` lists each problem as {row, column, message}."""

    type = "contact-import-invalid"
    title = "The contacts import did not validate"

    def __init__(self, report: ImportReport) -> None:
        detail = f"{report.errors_total} problem(s) found; nothing was imported."
        if report.errors_total > len(report.errors):
            detail += f" The first {len(report.errors)} are listed."
        super().__init__(
            detail,
            errors=[problem.model_dump() for problem in report.errors],
            errors_total=report.errors_total,
            columns=report.columns,
        )
        self.report = report

    @classmethod
    def single(cls, row: int | None, column: str | None, message: str) -> ContactImportRejected:
        return cls.listing([ImportProblem(row=row or 0, column=column, message=message)])

    @classmethod
    def listing(
        cls, problems: Sequence[ImportProblem], *, columns: dict[str, str] | None = None
    ) -> ContactImportRejected:
        """A problem with the file itself (its encoding, its columns): no row was read."""
        report = ImportReport(
            dry_run=False,
            valid=False,
            rows=0,
            created=0,
            updated=0,
            unchanged=0,
            columns=columns or {},
            errors=list(problems),
            errors_total=len(problems),
            warnings=[],
            preview=[],
        )
        return cls(report)
