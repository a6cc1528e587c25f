"""Rows to bytes (JSON Lines, CSV) and bytes back to validated rows.

Validation models are built from the tables themselves (column types, lengths, nullability,
defaults) plus the registry's domain rules, so a new column is validated the day it is
exported. A field missing from an imported row takes its column default; an explicit null is
only accepted where the column is nullable.
"""

from __future__ import annotations

import csv
import io
import json
import typing
import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from functools import cache
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, create_model
from sqlalchemy import String
from sqlalchemy.orm import Mapped

from intuitivus_flow.dataport.registry import EntitySpec

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


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(_plain(value))


def csv_header(spec: EntitySpec) -> bytes:
    return _csv_bytes([list(spec.fields)])


def csv_lines(spec: EntitySpec, rows: Iterable[Mapping[Any, Any]]) -> bytes:
    return _csv_bytes([[_csv_cell(row[name]) for name in spec.fields] for row in rows])


def _csv_bytes(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
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


def _annotation(spec: EntitySpec, name: str) -> Any:
    if name in spec.types:
        return spec.types[name]
    column = spec.column(name)
    annotation: Any = _python_type(spec, name)
    if name in spec.choices:
        annotation = spec.choices[name]
    elif annotation is datetime or annotation == datetime | None:
        annotation = AwareDatetime
    elif isinstance(column.type, String) and column.type.length:
        annotation = typing.Annotated[str, Field(max_length=column.type.length)]
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
            (str(error["loc"][0]) if error["loc"] else None, error["msg"])
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
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"not valid JSON ({exc.__class__.__name__}: {str(exc)[:120]})"
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
    """CSV cells as the JSON a row would carry: empty means null (nullable) or the default."""
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
                document[name] = json.loads(cell)
            except json.JSONDecodeError:
                problems.append((name, "not valid JSON"))
            continue
        document[name] = cell
    return document, problems
