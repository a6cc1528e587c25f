"""Reading an uploaded export: which file holds which entity, size guards, rows with lines.

The archive is read twice (validation, then writing), straight from the zip each time, so
memory holds one batch of rows at a time instead of the whole upload.

Reading is CPU-bound Python (inflating, parsing JSON or CSV, validating every row) over a
synchronous zipfile, so it never runs on the event loop: `open_archive` and `Archive.batches`
run it in worker threads, one batch of rows at a time, and the loop keeps serving requests
while an import runs (a 300,000-row import held it for 28 s: issue 10, item 9). At most
`PARSE_THREADS` batches are parsed at once per process, so imports cannot take every thread
of the default pool, which also serves the uploads' file I/O.

A damaged archive (a bad CRC, corrupt or truncated data, a declared size that does not match
the data, encrypted entries, compression methods zipfile cannot read) is the import's problem,
reported like a bad row: never a 500, never a retry.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import lzma
import posixpath
import weakref
import zipfile
import zlib
from collections.abc import AsyncGenerator, Callable, Generator, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import IO, TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread

from intuitivus_flow.dataport import codec
from intuitivus_flow.dataport.exceptions import ImportRejected, ImportTooLarge
from intuitivus_flow.dataport.registry import BY_NAME, ENTITIES, FORMAT_VERSION, EntitySpec

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

MANIFEST = "manifest.json"
FORMATS = ("jsonl", "csv")
MAX_MANIFEST_BYTES = 64 * 1024
# Rows parsed per trip to a worker thread. Small: a batch stays alive while the loop handles
# it, and larger batches cost more in garbage collection than the trips they save.
BATCH_ROWS = 200
PARSE_THREADS = 2  # batches parsed at once per process (each import parses one at a time)
READABLE_COMPRESSION = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)
# What zipfile and its decompressors raise when the bytes are not what the directory says: the
# exception depends on where the damage is (a header, the compressed stream, the CRC...).
_DAMAGE = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,  # bz2
    ValueError,  # offsets that point outside the file
    NotImplementedError,  # an unknown compression method
    RuntimeError,  # an encrypted entry
)
T = TypeVar("T")


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


def _reject(message: str, file: str | None = None) -> ImportRejected:
    problem = {"file": file, "line": None, "field": None, "message": message}
    return ImportRejected([problem], total=1)


class _Damaged(Exception):
    """A zip member's bytes could not be read back (whatever zipfile raised)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        # zipfile checks the CRC at the end of an entry; anything else is unreadable data.
        self.reason = (
            "its content does not match its checksum"
            if "CRC" in str(cause)
            else "its content cannot be unpacked"
        )


def _damaged_message(reason: str) -> str:
    return f"the file is damaged in the archive ({reason}); make a new export and import it"


class _DamageAwareReader(io.RawIOBase):
    """A zip member whose read errors, which vary with the damage, all become `_Damaged`;
    errors of the code that reads the rows stay what they are."""

    def __init__(self, member: IO[bytes]) -> None:
        super().__init__()
        self._member = member

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        try:
            data = self._member.read(len(view))
        except _DAMAGE as exc:
            raise _Damaged(exc) from exc
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._member.close()
        super().close()


def _entry_problem(info: zipfile.ZipInfo) -> str | None:
    """Why an entry cannot be read at all, from the archive's directory alone."""
    if info.flag_bits & 0x1:
        return "the file is encrypted; import the export as it was made, without a password"
    if info.compress_type not in READABLE_COMPRESSION:
        return (
            "the file is compressed with a method imports cannot read; make the zip with the "
            "export (deflate)"
        )
    return None


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
        except _DAMAGE:
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
            if problem := _entry_problem(info):
                problems.add(name, None, None, problem)
                continue
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
            with self._open(info) as raw:
                manifest = json.loads(raw.read())
        except _Damaged as damage:
            problems.add(MANIFEST, None, None, _damaged_message(damage.reason))
            return None
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

    def _open(self, info: zipfile.ZipInfo) -> IO[bytes]:
        try:
            member = self._zip.open(info)
        except _DAMAGE as exc:  # a local header that does not match the directory
            raise _Damaged(exc) from exc
        return io.BufferedReader(_DamageAwareReader(member))

    def rows(self, spec: EntitySpec) -> Generator[ParsedRow, None, None]:
        """The entity's rows in file order (synchronous: see `batches`)."""
        info, extension = self.members[spec.name]
        try:
            with self._open(info) as raw:
                parsed = self._jsonl(spec, raw) if extension == "jsonl" else self._csv(spec, raw)
                for count, row in enumerate(parsed, start=1):
                    if count > self.limits.max_rows_per_file:
                        raise ImportTooLarge(
                            f"{self.file_name(spec)} has more than "
                            f"{self.limits.max_rows_per_file} rows; split it into several imports."
                        )
                    yield row
        except _Damaged as damage:
            raise _reject(_damaged_message(damage.reason), self.file_name(spec)) from None

    async def batches(self, spec: EntitySpec) -> AsyncGenerator[list[ParsedRow], None]:
        """The entity's rows, `BATCH_ROWS` at a time, each batch read and validated in a
        worker thread. Use with `contextlib.aclosing`, so the zip member is closed when the
        caller stops early.

        The next batch is parsed while the caller handles this one (its checks, its inserts
        waiting on the database), so moving the work off the loop costs no throughput."""
        rows = self.rows(spec)
        upcoming = asyncio.ensure_future(off_loop(_take, rows, BATCH_ROWS))
        try:
            while batch := await upcoming:
                upcoming = asyncio.ensure_future(off_loop(_take, rows, BATCH_ROWS))
                yield batch
        finally:
            # A thread cannot be stopped: let the batch in hand finish before closing its file.
            await asyncio.gather(upcoming, return_exceptions=True)
            rows.close()

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


def _take(rows: Iterator[ParsedRow], count: int) -> list[ParsedRow]:
    return list(islice(rows, count))


# One limiter per event loop: a limiter belongs to the loop it was made in (the CLI runs a
# loop per command, tests may run several).
_LIMITERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


def _parse_limiter() -> anyio.CapacityLimiter:
    loop = asyncio.get_running_loop()
    limiter = _LIMITERS.get(loop)
    if limiter is None:
        limiter = _LIMITERS[loop] = anyio.CapacityLimiter(PARSE_THREADS)
    return limiter


async def off_loop(function: Callable[..., T], *args: Any) -> T:
    """Run CPU-bound archive work in a worker thread (at most `PARSE_THREADS` at once)."""
    return await anyio.to_thread.run_sync(function, *args, limiter=_parse_limiter())


async def open_archive(upload: IO[bytes], limits: ImportLimits) -> Archive:
    """`Archive(upload, limits)` off the event loop: reading the zip's directory is file I/O,
    and CPU for an archive of many entries."""
    return await off_loop(Archive, upload, limits)
