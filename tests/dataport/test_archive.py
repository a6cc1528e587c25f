"""Reading archives without a database: odd lines, odd CSV, zipped folders, the row rules."""

from __future__ import annotations

import io
import zipfile

import pytest
from tests.dataport.support import make_zip

from intuitivus_flow.dataport import codec
from intuitivus_flow.dataport.exceptions import ImportRejected, ImportTooLarge
from intuitivus_flow.dataport.imports.archive import Archive, ImportLimits
from intuitivus_flow.dataport.registry import BY_NAME

LIMITS = ImportLimits(
    max_bytes=1_000_000,
    max_uncompressed_bytes=10_000_000,
    max_rows_per_file=1000,
    max_line_bytes=200,
)


def rows(files: dict[str, str | bytes], entity: str, limits: ImportLimits = LIMITS) -> list[tuple]:
    archive = Archive(io.BytesIO(make_zip(files)), limits)
    return [(row.line, row.values, row.problems) for row in archive.rows(BY_NAME[entity])]


def test_an_oversized_line_is_one_problem_and_reading_goes_on() -> None:
    long_line = '{"name": "' + "x" * 500 + '"}\n'
    found = rows({"agents.jsonl": long_line + '{"name": "ok"}\n\n'}, "agents")
    assert found[0][0] == 1
    assert "longer than 200 bytes" in found[0][2][0][1]
    assert found[1] == (2, {"name": "ok"}, [])
    assert len(found) == 2  # the blank last line is no row


def test_empty_csv_and_unreadable_csv() -> None:
    assert rows({"agents.csv": ""}, "agents") == []
    found = rows({"agents.csv": b"name\n\xff\xfe\n"}, "agents")
    assert "unreadable CSV" in found[-1][2][0][1]


def test_a_zipped_folder_is_read_by_file_name() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("export/", "")
        archive.writestr("export/agents.jsonl", '{"name": "A"}\n')
    found = Archive(io.BytesIO(buffer.getvalue()), LIMITS)
    assert list(found.members) == ["agents"]


def test_limits_on_the_file_itself() -> None:
    small = ImportLimits(max_bytes=100, max_uncompressed_bytes=10_000, max_rows_per_file=1)
    with pytest.raises(ImportTooLarge, match="limited to 100 bytes"):
        Archive(io.BytesIO(b"x" * 101), small)
    big_manifest = make_zip({"manifest.json": " " * 70_000, "agents.jsonl": ""})
    with pytest.raises(ImportRejected) as rejected:
        Archive(io.BytesIO(big_manifest), LIMITS)
    assert rejected.value.errors[0]["message"] == "the manifest is too large"


def test_pending_messages_and_unfinished_tasks_are_settled_on_import() -> None:
    message = {"status": "pending"}
    BY_NAME["messages"].on_import(message)  # type: ignore[misc]
    assert message == {"status": "failed", "error": "imported before it was sent"}
    task = {"status": "running"}
    BY_NAME["agent_tasks"].on_import(task)  # type: ignore[misc]
    assert task == {"status": "cancelled", "error": "imported before it finished"}


def test_csv_cells_of_every_kind() -> None:
    spec = BY_NAME["campaigns"]
    document, problems = codec.decode_csv_row(
        spec,
        {"id": "", "name": "", "total_budget_minor": "", "starts_at": "", "targeting": "{}"},
    )
    assert problems == []
    assert document == {
        "id": None,
        "name": "",
        "starts_at": None,
        "total_budget_minor": None,
        "targeting": {},
    }
    assert (
        codec.csv_lines(BY_NAME["contact_tags"], [{"id": 1, "contact_id": True, "tag": "x"}])
        == b"1,true,x\r\n"  # RFC 4180 line ends, so a carriage return in a cell round-trips
    )
