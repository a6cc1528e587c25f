"""Where performance figures come from: the `AdPlatformReports` protocol.

Ad-platform APIs (Google Ads, Meta Marketing, TikTok, LinkedIn) cannot be reached from here, so
reports arrive as the JSON API body (`StaticReports`) or as an uploaded CSV/JSON export
(`FileReports`). A live connector is one more implementation of `AdPlatformReports`: it fetches
the campaign's daily rows from the vendor and hands them to `service.ingest`, which validates
and stores them exactly as it does for files.

Files: CSV with a header row `date,impressions,clicks,conversions,spend,revenue`, or JSON (a
list of objects with those keys, or `{"rows": [...]}`). Money is a decimal amount in the
campaign's currency, as the platforms export it (`12.34`), turned into integer minor units
without rounding. Every bad row is reported with its line (CSV: the file line; JSON: the
1-based position in the list) and field, and then nothing is stored.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from pydantic import ValidationError

from intuitivus_flow.campaigns.schemas import ReportRow
from intuitivus_flow.kit import jsontext
from intuitivus_flow.kit.errors import InvalidInput
from intuitivus_flow.kit.money import decimals

FILE_COLUMNS = ("date", "impressions", "clicks", "conversions", "spend", "revenue")
REQUIRED_COLUMNS = frozenset(FILE_COLUMNS) - {"revenue"}
MAX_ROWS = 5000


@dataclass(frozen=True, slots=True)
class RowProblem:
    line: int
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "msg": self.message}


class ReportRejected(InvalidInput):
    """A report with bad rows: all of them are listed, none is stored."""

    def __init__(self, problems: Sequence[RowProblem]) -> None:
        super().__init__(
            f"{len(problems)} problem(s) in the report; nothing was stored",
            errors=[problem.as_dict() for problem in problems],
        )
        self.problems = list(problems)


class AdPlatformReports(Protocol):
    """A source of a campaign's daily performance rows (money in minor units)."""

    @property
    def source(self) -> str:
        """Where the rows came from ("api", "file", "google_ads"...), stored with them."""
        ...

    async def fetch(self, *, currency: str) -> list[ReportRow]:
        """All rows, validated; raise `ReportRejected` listing every bad row."""
        ...


@dataclass(frozen=True, slots=True)
class StaticReports:
    """Rows already validated by the API schema (the JSON body of `POST .../reports`)."""

    rows: Sequence[ReportRow]
    source: str = "api"

    async def fetch(self, *, currency: str) -> list[ReportRow]:
        problems = _duplicate_dates([(index + 1, row.date) for index, row in enumerate(self.rows)])
        if problems:
            raise ReportRejected(problems)
        return list(self.rows)


@dataclass(frozen=True, slots=True)
class FileReports:
    """A CSV or JSON export uploaded by a person."""

    content: bytes
    filename: str
    source: str = "file"

    async def fetch(self, *, currency: str) -> list[ReportRow]:
        records = list(self._records())
        if len(records) > MAX_ROWS:
            raise ReportRejected([RowProblem(0, "file", f"at most {MAX_ROWS} rows per file")])
        parsed: list[tuple[int, ReportRow]] = []
        problems: list[RowProblem] = []
        for line, record in records:
            row, row_problems = parse_record(line, record, currency)
            problems.extend(row_problems)
            if row is not None:
                parsed.append((line, row))
        problems.extend(_duplicate_dates([(line, row.date) for line, row in parsed]))
        if problems:
            raise ReportRejected(problems)
        if not parsed:
            raise ReportRejected([RowProblem(0, "file", "the file has no rows")])
        return [row for _, row in parsed]

    def _records(self) -> Iterator[tuple[int, dict[str, Any]]]:
        try:
            text = self.content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ReportRejected([RowProblem(0, "file", "must be UTF-8 text")]) from None
        if self.filename.lower().endswith(".json") or text.lstrip().startswith(("[", "{")):
            yield from _json_records(text)
        else:
            yield from _csv_records(text)


def _csv_records(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text))
    header = {name.strip().lower() for name in reader.fieldnames or []}
    missing = sorted(REQUIRED_COLUMNS - header)
    if missing:
        raise ReportRejected([RowProblem(1, name, "missing column") for name in missing])
    for record in reader:
        cleaned = {str(key).strip().lower(): value for key, value in record.items() if key}
        yield reader.line_num, cleaned


def _json_records(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        document = jsontext.loads(text)  # bounded nesting: a deep file is refused, not a 500
    except jsontext.JsonShapeError as exc:
        raise ReportRejected([RowProblem(0, "file", f"invalid JSON: {exc}")]) from None
    except json.JSONDecodeError as exc:
        raise ReportRejected([RowProblem(exc.lineno, "file", f"invalid JSON: {exc.msg}")]) from None
    items = document.get("rows") if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise ReportRejected([RowProblem(0, "file", "expected a list of rows or {'rows': [...]}")])
    for index, item in enumerate(items, start=1):
        yield index, item if isinstance(item, dict) else {"__not_an_object__": item}


def parse_record(
    line: int, record: dict[str, Any], currency: str
) -> tuple[ReportRow | None, list[RowProblem]]:
    """One exported record -> a row in minor units, or the problems of each of its fields."""
    if "__not_an_object__" in record:
        return None, [RowProblem(line, "row", "must be an object")]
    unknown = sorted(set(record) - set(FILE_COLUMNS))
    problems = [RowProblem(line, name, "unknown column") for name in unknown]
    data: dict[str, Any] = {}
    for name in FILE_COLUMNS:
        value = record.get(name)
        if name in {"spend", "revenue"}:
            minor, problem = to_minor(value, currency, required=name == "spend")
            if problem:
                problems.append(RowProblem(line, name, problem))
            data[f"{name}_minor"] = minor
        else:
            data[name] = value.strip() if isinstance(value, str) else value
    try:
        row = ReportRow.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_input=False, include_url=False):
            field = str(error["loc"][0]).removesuffix("_minor") if error["loc"] else "row"
            if not any(p.field == field for p in problems):
                problems.append(RowProblem(line, field, error["msg"]))
        return None, problems
    return (None, problems) if problems else (row, [])


def to_minor(value: object, currency: str, *, required: bool) -> tuple[int, str | None]:
    """A decimal amount in major units -> integer minor units, exactly."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0, ("required" if required else None)
    if isinstance(value, bool):
        return 0, "must be a number"
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return 0, "must be a number"
    if not amount.is_finite() or amount < 0:
        return 0, "must be a non-negative amount"
    places = decimals(currency)
    minor = amount.scaleb(places)
    if minor != minor.to_integral_value():
        return 0, f"at most {places} decimal places in {currency}"
    return int(minor), None


def _duplicate_dates(lines: Sequence[tuple[int, date]]) -> list[RowProblem]:
    seen: set[date] = set()
    problems = []
    for line, day in lines:
        if day in seen:
            problems.append(RowProblem(line, "date", f"{day.isoformat()} appears more than once"))
        seen.add(day)
    return problems
