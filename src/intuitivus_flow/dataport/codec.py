"""Rows to bytes (JSON Lines, CSV) and bytes back to validated rows.

Validation models are built from the tables themselves (column types, lengths, nullability,
defaults, the range an integer column holds) plus the registry's domain rules, so a new column
is validated the day it is exported. A field missing from an imported row takes its column
default; an explicit null is only accepted where the column is nullable. What no column can
hold is a bad row, never a database error: numbers beyond the column's integer type, NaN and
infinities, times that leave the calendar once converted to UTC, JSON nested too deep.

CSV cells are written for spreadsheets too: a text that a spreadsheet would run as a formula
(starting with =, +, -, @, a tab or a carriage return) gets a leading single quote, as OWASP
recommends against CSV injection. A text starting with a quote gets one more, so import
removes exactly one leading quote from any text cell and every text comes back as it was.
"""

from __future__ import annotations

import csv
import io
import json
import typing
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from functools import cache
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
)
from sqlalchemy import BigInteger, Column, Float, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped

from intuitivus_flow.dataport.registry import EntitySpec
from intuitivus_flow.kit import jsontext

# (field or None, message) for one row that did not validate.
FieldProblems = list[tuple[str | None, str]]


class _RowBase(BaseModel):
    # Unknown fields are refused: `workspace_id` (or a typo) must never slip into an insert.
    model_config = ConfigDict(extra="forbid")


# --- export -------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def jsonl_line(spec: EntitySpec, row: Mapping[Any, Any]) -> bytes:
    document = {name: _plain(row[name]) for name in spec.fields}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


# A cell starting with one of these is a formula to spreadsheets (OWASP: CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TEXT_QUOTE = "'"


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, str):
        return _inert_text(value)
    return str(_plain(value))


def _inert_text(text: str) -> str:
    # Only texts: numbers and times are written by us and never start with a letter of
    # a formula (a negative number is just that). Texts starting with the quote itself get
    # one too, so that import can always remove exactly one.
    if text.startswith((*FORMULA_STARTS, TEXT_QUOTE)):
        return TEXT_QUOTE + text
    return text


def csv_header(spec: EntitySpec) -> bytes:
    return _csv_bytes([list(spec.fields)])


def csv_lines(spec: EntitySpec, rows: Iterable[Mapping[Any, Any]]) -> bytes:
    return _csv_bytes([[_csv_cell(row[name]) for name in spec.fields] for row in rows])


def _csv_bytes(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    # RFC 4180's CRLF: the writer quotes a cell holding either character of the terminator,
    # so a text with a carriage return (with "\n" alone it went out bare) reads back whole.
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()


# --- import -------------------------------------------------------------------------------------


@cache
def _python_types(spec: EntitySpec) -> dict[str, Any]:
    """The model's annotations without `Mapped[...]`: `int | None`, `list[str]`..."""
    hints = typing.get_type_hints(spec.model)
    return {
        name: typing.get_args(hints[name])[0]
        if typing.get_origin(hints[name]) is Mapped
        else hints[name]
        for name in spec.fields
    }


def _python_type(spec: EntitySpec, name: str) -> Any:
    return _python_types(spec)[name]


def _in_utc(value: datetime) -> datetime:
    # Stored in UTC: 0001-01-01T00:30+05:00 is in year 0 there, which no datetime can hold.
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("this time is out of range once converted to UTC") from None


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_in_utc)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
# (column type, bits): subclasses first (BigInteger and SmallInteger are Integers).
_INTEGER_BITS = ((BigInteger, 64), (SmallInteger, 16), (Integer, 32))


def _integer_range(column: Column[Any]) -> Any | None:
    for kind, bits in _INTEGER_BITS:
        if isinstance(column.type, kind):
            limit = 2 ** (bits - 1)
            return Annotated[int, Field(ge=-limit, le=limit - 1)]
    return None


def _annotation(spec: EntitySpec, name: str) -> Any:
    if name in spec.types:
        return spec.types[name]
    column = spec.column(name)
    annotation: Any = _python_type(spec, name)
    if name in spec.choices:
        annotation = spec.choices[name]
    elif annotation is datetime or annotation == datetime | None:
        annotation = UtcDatetime
    elif isinstance(column.type, String) and column.type.length:
        annotation = Annotated[str, Field(max_length=column.type.length)]
    elif isinstance(column.type, Float):
        annotation = FiniteFloat  # NaN: a NOT NULL violation on SQLite, unreadable as JSON
    elif (integers := _integer_range(column)) is not None:
        annotation = integers
    return annotation | None if column.nullable else annotation


def _field(spec: EntitySpec, name: str) -> tuple[Any, Any]:
    if name == "id":  # optional: a row without an id simply cannot be referenced
        return uuid.UUID | None, None
    column = spec.column(name)
    required = not column.nullable and column.default is None and column.server_default is None
    # Not required: missing means "the column default"; the default is never validated.
    return _annotation(spec, name), (... if required else None)


@cache
def row_model(spec: EntitySpec) -> type[BaseModel]:
    fields: dict[str, Any] = {name: _field(spec, name) for name in spec.fields}
    model: type[BaseModel] = create_model(  # type: ignore[call-overload]
        f"Import_{spec.name}", __base__=_RowBase, **fields
    )
    return model


def validate_row(spec: EntitySpec, data: Mapping[str, Any]) -> tuple[dict[str, Any], FieldProblems]:
    """The row as column values (only the fields it set), or what is wrong with it."""
    try:
        parsed = row_model(spec).model_validate(data)
    except ValidationError as exc:
        return {}, [
            (str(error["loc"][0]) if error["loc"] else None, _readable(error["msg"]))
            for error in exc.errors(include_input=False, include_url=False)
        ]
    values = parsed.model_dump(exclude_unset=True)
    for name, value in values.items():
        if name in spec.choices and value is not None:
            values[name] = spec.choices[name](value).value
    problems: FieldProblems = [
        (name, "contains the NUL character (U+0000), which cannot be stored")
        for name, value in values.items()
        if _holds_nul(value)
    ]
    problems.extend(spec.check(values) if spec.check else [])
    return values, problems


def _readable(message: str) -> str:
    # pydantic says "Value error, ..." for custom validators; the prefix means nothing here.
    return message.removeprefix("Value error, ")


def _holds_nul(value: Any) -> bool:
    """PostgreSQL's text and JSON types refuse U+0000 (SQLite would take it): one rule for
    both engines, reported as the row's problem instead of failing the whole import."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def decode_json_line(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    try:
        document = jsontext.loads(raw)
    except jsontext.JsonShapeError as exc:
        return None, str(exc)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"not valid JSON ({str(exc)[:120]})"
    if not isinstance(document, dict):
        return None, "each line must be a JSON object"
    return document, None


@cache
def _json_columns(spec: EntitySpec) -> frozenset[str]:
    return frozenset(
        name
        for name, python_type in _python_types(spec).items()
        if (typing.get_origin(python_type) or python_type) in (dict, list)
    )


def decode_csv_row(
    spec: EntitySpec, cells: Mapping[str, str]
) -> tuple[dict[str, Any], FieldProblems]:
    """CSV cells as the JSON a row would carry: empty means null (nullable) or the default;
    one leading quote is removed from text cells (the export adds it, see the docstring)."""
    document: dict[str, Any] = {}
    problems: FieldProblems = []
    for name, cell in cells.items():
        column = spec.column(name) if name != "id" else None
        if cell == "":
            if name == "id" or (column is not None and column.nullable):
                document[name] = None
            elif column is not None and isinstance(column.type, String) and name not in spec.types:
                document[name] = ""
            continue  # an empty number, time or JSON cell: the column default
        if name in _json_columns(spec):
            try:
                document[name] = jsontext.loads(cell)
            except jsontext.JsonShapeError as exc:
                problems.append((name, str(exc)))
            except json.JSONDecodeError:
                problems.append((name, "not valid JSON"))
            continue
        document[name] = cell.removeprefix(TEXT_QUOTE)
    return document, problems
