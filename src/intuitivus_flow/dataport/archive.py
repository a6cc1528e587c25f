"""Reading an uploaded export: which file holds which entity, size guards, rows with lines.

The archive is read twice (validation, then writing), straight from the zip each time, so
memory holds one row at a time instead of the whole upload.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from intuitivus_flow.dataport import codec
from intuitivus_flow.dataport.exceptions import ImportRejected, ImportTooLarge
from intuitivus_flow.dataport.registry import BY_NAME, ENTITIES, FORMAT_VERSION, EntitySpec

MANIFEST = "manifest.json"
FORMATS = ("jsonl", "csv")
MAX_MANIFEST_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class ImportLimits:
    max_bytes: int  # the compressed upload
    max_uncompressed_bytes: int  # all files once unpacked: the zip-bomb guard
    max_rows_per_file: int
    max_errors: int = 1000  # problems listed; the rest are counted
    max_line_bytes: int = 1_048_576


@dataclass(frozen=True, slots=True)
class ParsedRow:
    line: int  # where the row starts in its file (1-based; a CSV header is line 1)
    values: dict[str, Any]  # column values the row set (empty when it has problems)
    problems: codec.FieldProblems


@dataclass(slots=True)
class Problems:
    """Every problem is counted; the first `cap` are kept for the report."""

    cap: int
    shown: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0

    def add(self, file: str | None, line: int | None, field: str | None, message: str) -> None:
        self.total += 1
        if len(self.shown) < self.cap:
            self.shown.append({"file": file, "line": line, "field": field, "message": message})

    def raise_if_any(self) -> None:
        if self.total:
            raise ImportRejected(self.shown, total=self.total)


def _reject(message: str) -> ImportRejected:
    problem = {"file": None, "line": None, "field": None, "message": message}
    return ImportRejected([problem], total=1)


class Archive:
    """An export zip (JSON Lines or CSV files, optional manifest) checked against the limits."""

    def __init__(self, upload: IO[bytes], limits: ImportLimits) -> None:
        self.limits = limits
        upload.seek(0, io.SEEK_END)
        if upload.tell() > limits.max_bytes:
            raise ImportTooLarge(f"Imports are limited to {limits.max_bytes} bytes (compressed).")
        upload.seek(0)
        try:
            self._zip = zipfile.ZipFile(upload)
        except zipfile.BadZipFile:
            raise _reject("The upload is not a zip archive (make one with the export).") from None
        self._check_unpacked_size()
        self.members: dict[str, tuple[zipfile.ZipInfo, str]] = {}
        self.manifest: dict[str, Any] | None = None
        self._index()

    def _check_unpacked_size(self) -> None:
        # zipfile never returns more than an entry's declared size, so the declared sizes
        # bound what unpacking can produce: a bomb is refused before anything is inflated.
        declared = sum(info.file_size for info in self._zip.infolist())
        if declared > self.limits.max_uncompressed_bytes:
            raise ImportTooLarge(
                f"The archive unpacks to {declared} bytes; imports are limited to "
                f"{self.limits.max_uncompressed_bytes} bytes uncompressed."
            )

    def _index(self) -> None:
        problems = Problems(cap=self.limits.max_errors)
        for info in self._zip.infolist():
            if info.is_dir():
                continue
            name = posixpath.basename(info.filename)  # a zipped folder works too
            if name == MANIFEST:
                self.manifest = self._read_manifest(info, problems)
                continue
            stem, _, extension = name.rpartition(".")
            if extension not in FORMATS or stem not in BY_NAME:
                problems.add(name, None, None, _unknown_file_message())
            elif stem in self.members:
                problems.add(name, None, None, f"{stem} appears more than once in the archive")
            else:
                self.members[stem] = (info, extension)
        if not self.members and not problems.total:
            problems.add(None, None, None, "The archive holds no entity files.")
        problems.raise_if_any()

    def _read_manifest(self, info: zipfile.ZipInfo, problems: Problems) -> dict[str, Any] | None:
        if info.file_size > MAX_MANIFEST_BYTES:
            problems.add(MANIFEST, None, None, "the manifest is too large")
            return None
        try:
            manifest = json.loads(self._zip.read(info))
        except (UnicodeDecodeError, json.JSONDecodeError):
            problems.add(MANIFEST, None, None, "not valid JSON")
            return None
        if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
            problems.add(
                MANIFEST, None, "format_version", f"only format version {FORMAT_VERSION} is read"
            )
            return None
        return manifest

    def file_name(self, spec: EntitySpec) -> str:
        return f"{spec.name}.{self.members[spec.name][1]}"

    def declared_count(self, spec: EntitySpec) -> int | None:
        counts = (self.manifest or {}).get("entities")
        value = counts.get(spec.name) if isinstance(counts, dict) else None
        return value if isinstance(value, int) else None

    def declared_counts(self) -> dict[str, int | None]:
        """Rows per entity file, parents first, as the manifest says (None: not said)."""
        return {
            spec.name: self.declared_count(spec) for spec in ENTITIES if spec.name in self.members
        }

    def rows(self, spec: EntitySpec) -> Iterator[ParsedRow]:
        info, extension = self.members[spec.name]
        with self._zip.open(info) as raw:
            parsed = self._jsonl(spec, raw) if extension == "jsonl" else self._csv(spec, raw)
            for count, row in enumerate(parsed, start=1):
                if count > self.limits.max_rows_per_file:
                    raise ImportTooLarge(
                        f"{self.file_name(spec)} has more than {self.limits.max_rows_per_file} "
                        "rows; split it into several imports."
                    )
                yield row

    def _jsonl(self, spec: EntitySpec, raw: IO[bytes]) -> Iterator[ParsedRow]:
        limit = self.limits.max_line_bytes
        line = 0
        while chunk := raw.readline(limit + 1):
            line += 1
            if len(chunk) > limit and not chunk.endswith(b"\n"):
                while (rest := raw.readline(limit)) and not rest.endswith(b"\n"):
                    pass  # skip the rest of the oversized line
                yield ParsedRow(line, {}, [(None, f"the line is longer than {limit} bytes")])
                continue
            if not chunk.strip():
                continue  # blank lines (a trailing newline) carry no row
            document, error = codec.decode_json_line(chunk)
            if document is None:
                yield ParsedRow(line, {}, [(None, error or "invalid")])
                continue
            values, problems = codec.validate_row(spec, document)
            yield ParsedRow(line, values, problems)

    def _csv(self, spec: EntitySpec, raw: IO[bytes]) -> Iterator[ParsedRow]:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        reader = csv.reader(text)
        try:
            header = next(reader, None)
            if header is None:
                return
            problem = _header_problem(spec, header)
            if problem:
                yield ParsedRow(1, {}, [(None, problem)])
                return
            start = reader.line_num + 1
            for cells in reader:
                yield self._csv_row(spec, header, cells, start)
                start = reader.line_num + 1
        except (csv.Error, UnicodeDecodeError) as exc:
            yield ParsedRow(reader.line_num, {}, [(None, f"unreadable CSV: {exc}")])

    @staticmethod
    def _csv_row(spec: EntitySpec, header: list[str], cells: list[str], line: int) -> ParsedRow:
        if len(cells) != len(header):
            problem = f"{len(cells)} cells, the header has {len(header)}"
            return ParsedRow(line, {}, [(None, problem)])
        document, problems = codec.decode_csv_row(spec, dict(zip(header, cells, strict=True)))
        if problems:
            return ParsedRow(line, {}, problems)
        values, problems = codec.validate_row(spec, document)
        return ParsedRow(line, values, problems)


def _header_problem(spec: EntitySpec, header: list[str]) -> str | None:
    unknown = [name for name in header if name not in spec.fields]
    if unknown:
        return f"unknown column(s) {', '.join(unknown)}; the columns are {', '.join(spec.fields)}"
    if len(set(header)) != len(header):
        return "a column appears twice in the header"
    model = codec.row_model(spec)
    missing = [n for n, f in model.model_fields.items() if f.is_required() and n not in header]
    if missing:
        return f"missing required column(s) {', '.join(missing)}"
    return None


def _unknown_file_message() -> str:
    names = ", ".join(BY_NAME)
    return f"not an entity file: use <entity>.jsonl or <entity>.csv with an entity among {names}"
