"""The embedded store (DuckDB) shared by several OS processes, as `serve --workers 2` plus the
job worker use it: DuckDB lets one process at a time hold a file read-write, so the store
attaches the file per operation and waits (bounded) for the other process's lock.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from intuitivus_flow.analytics.store import StoreError, open_store
from intuitivus_flow.analytics.store.embedded import DuckDBStore

WORKSPACE = uuid.UUID(int=7)
BATCHES = 8
ROWS = 50

# One role per process; both migrate the fresh file at the same moment, then the writer appends
# batches while the reader queries until it has seen them all.
_ROLE = r"""
import json, sys, time, uuid
from datetime import UTC, datetime
from pathlib import Path
import pyarrow as pa
from intuitivus_flow.analytics.store import open_store

role, path, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
batches, rows = int(sys.argv[4]), int(sys.argv[5])
workspace = str(uuid.UUID(int=7))
print("ready", flush=True)
while not go.exists():
    time.sleep(0.005)
store = open_store(f"duckdb:///{path}")
seen = []
if role == "writer":
    now = datetime.now(UTC)
    for b in range(batches):
        store.insert_events(pa.table({
            "workspace_id": [workspace] * rows,
            "person_id": [f"p{i}" for i in range(rows)],
            "event": ["signup"] * rows,
            "timestamp": pa.array([now] * rows, pa.timestamp("us", tz="UTC")),
            "properties": ["{}"] * rows,
            "message_id": [f"{role}-{b}-{i}" for i in range(rows)],
            "source": ["collect"] * rows,
            "received_at": pa.array([now] * rows, pa.timestamp("us", tz="UTC")),
        }))
        time.sleep(0.01)
else:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        count = store.query(uuid.UUID(workspace), "SELECT count(*) FROM {events}").rows[0][0]
        seen.append(int(count))
        if count >= batches * rows:
            break
print(json.dumps(seen), flush=True)
"""


def _spawn(role: str, path: Path, go: Path) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", _ROLE, role, str(path), str(go), str(BATCHES), str(ROWS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    return child


def test_a_writer_and_a_reader_process_share_one_file(tmp_path: Path) -> None:
    path = tmp_path / "analytics.duckdb"
    go = tmp_path / "go"
    writer, reader = _spawn("writer", path, go), _spawn("reader", path, go)
    go.touch()
    outcomes = {}
    for name, child in (("writer", writer), ("reader", reader)):
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, f"{name} failed: {err.strip().splitlines()[-1:]}"
        outcomes[name] = json.loads(out.strip().splitlines()[-1])

    seen = outcomes["reader"]
    # the reader ran while the writer wrote: it saw the count grow, and then all of it
    assert seen == sorted(seen)
    assert seen[-1] == BATCHES * ROWS
    store = open_store(f"duckdb:///{path}")
    # both processes migrated the fresh file at once: each schema version was applied once
    versions = store.execute("SELECT version FROM analytics_schema_migrations ORDER BY 1").rows
    assert [v for (v,) in versions] == [1, 2, 3]
    assert store.query(WORKSPACE, "SELECT count(*) FROM {events}").rows == [(BATCHES * ROWS,)]


def _hold_lock(path: Path) -> subprocess.Popen[str]:
    """Another process holding the file read-write (as the old store did for its lifetime),
    until its stdin closes."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
            "sys.stdin.read(); c.close()",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "held"
    return child


def _release(child: subprocess.Popen[str]) -> None:
    assert child.stdin is not None
    child.stdin.close()
    assert child.wait(timeout=10) == 0


def test_a_held_lock_is_waited_for_then_reported_busy(tmp_path: Path) -> None:
    path = tmp_path / "analytics.duckdb"
    DuckDBStore(str(path)).migrate()
    impatient = DuckDBStore(str(path), busy_timeout=0.3)
    patient = DuckDBStore(f"{path}?busy_timeout=10")
    assert patient.busy_timeout == 10.0
    assert patient.path == str(path)

    holder = _hold_lock(path)
    try:
        began = time.monotonic()
        with pytest.raises(StoreError, match="busy"):
            impatient.query(WORKSPACE, "SELECT count(*) FROM {events}")
        assert 0.3 <= time.monotonic() - began < 5

        # a wait shorter than the timeout is invisible to the caller
        answers: list[object] = []
        waiting = threading.Thread(
            target=lambda: answers.append(
                patient.query(WORKSPACE, "SELECT count(*) FROM {events}").rows
            )
        )
        waiting.start()
        time.sleep(0.2)
        assert waiting.is_alive()
    finally:
        _release(holder)
    waiting.join(timeout=10)
    assert answers == [[(0,)]]


def test_a_waiting_writer_keeps_new_readers_out(tmp_path: Path) -> None:
    """DuckDB's file lock is no queue: a writer waiting for readers to detach holds
    `<file>.lock`, and a reader arriving then waits behind it instead of starving it."""
    path = tmp_path / "analytics.duckdb"
    DuckDBStore(str(path)).migrate()
    reader = DuckDBStore(str(path), busy_timeout=0.3)
    with (tmp_path / "analytics.duckdb.lock").open("a+b") as gate:
        fcntl.flock(gate, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what a waiting writer holds
        with pytest.raises(StoreError, match=r"busy.*waiting"):
            reader.query(WORKSPACE, "SELECT count(*) FROM {events}")
        fcntl.flock(gate, fcntl.LOCK_UN)
    assert reader.query(WORKSPACE, "SELECT count(*) FROM {events}").rows == [(0,)]


def test_stores_of_one_file_in_one_process_take_turns(tmp_path: Path) -> None:
    # DuckDB refuses a second attach of a file in one process: the stores share one lock
    first = DuckDBStore(str(tmp_path / "a.duckdb"))
    second = DuckDBStore(f"{tmp_path}/./a.duckdb?busy_timeout=1")
    first.migrate()
    with first.session(read_only=True):
        answers: list[object] = []
        other = threading.Thread(target=lambda: answers.append(second.migrate()))
        other.start()
        other.join(timeout=0.2)
        assert other.is_alive()  # waiting for the first store's turn, not failing
    other.join(timeout=10)
    assert answers == [[]]


def test_bad_timeouts_and_paths_are_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="busy_timeout"):
        DuckDBStore(f"{tmp_path}/a.duckdb?busy_timeout=soon")
    with pytest.raises(StoreError, match="busy_timeout"):
        DuckDBStore(f"{tmp_path}/a.duckdb?busy_timeout=-1")
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot open"):
        DuckDBStore(f"{blocked}/a.duckdb").migrate()


def test_the_in_memory_store_keeps_its_one_connection() -> None:
    store = DuckDBStore(":memory:")
    assert store.migrate() == [1, 2, 3]
    # a second connect to :memory: would be an empty database: the same one must answer
    assert store.migrate() == []
    store.add_aliases(WORKSPACE, {"anon": "p1"})
    assert store.execute("SELECT alias, person_id FROM person_aliases").rows == [("anon", "p1")]
    store.close()
