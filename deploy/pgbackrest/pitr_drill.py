"""Point-in-time recovery drill on a throw-away PostgreSQL cluster (`make pitr-drill`).

initdb on a free port in a temporary directory, WAL archiving through pgBackRest to two
repositories with the options of deploy/pgbackrest/pgbackrest.conf (only the paths changed),
stanza-create, a full backup to each repository, writes, the time noted, more writes, stop,
restore from the SECOND repository (the other region) to the noted time, start, and check
that exactly the first writes exist. The cluster and its files are removed at the end, also
on failure. Run as root, the cluster runs as the `postgres` user (initdb refuses root).

Prints one line per step with its duration; exits 1 (with the reason) when recovery is wrong.
"""

# A command-line drill: it prints its steps, runs fixed PostgreSQL programs and inserts its own
# constant notes, hence print, subprocess and f-string SQL.
# ruff: noqa: T201, S603, S608

from __future__ import annotations

import configparser
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "pgbackrest.conf"
ARCHIVE_CONF = HERE / "postgresql.archive.conf"
STANZA = "flow"
BEFORE = ("alpha", "bravo", "charlie")
AFTER = ("delta", "echo")


class DrillError(RuntimeError):
    pass


def postgres_bin() -> Path:
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3])
    )
    if not versions:
        raise DrillError("PostgreSQL server binaries not found under /usr/lib/postgresql")
    return versions[-1].parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.bin = postgres_bin()
        self.config = root / "pgbackrest.conf"
        self.as_postgres = os.geteuid() == 0

    def run(self, *command: str, check: bool = True) -> str:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_postgres else []
        result = subprocess.run(
            [*prefix, *command], capture_output=True, text=True, timeout=120, check=False
        )
        if check and result.returncode != 0:
            output = (result.stderr or result.stdout).strip().splitlines()
            raise DrillError(f"{' '.join(command[:3])} failed: {output[-1] if output else ''}")
        return result.stdout

    def pgbackrest(self, *args: str) -> str:
        return self.run("pgbackrest", f"--config={self.config}", f"--stanza={STANZA}", *args)

    def sql(self, statement: str) -> str:
        return self.run(
            str(self.bin / "psql"),
            "-h",
            str(self.root),
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-X",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            statement,
        ).strip()

    def pg_ctl(self, *args: str) -> None:
        self.run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "pg.log"),
            "-w",
            "-t",
            "60",
            *args,
        )

    def write_pgbackrest_config(self) -> None:
        """The repository's configuration with this cluster's paths: the options are tested."""
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read(CONFIG)
        paths = {
            "repo1-path": self.root / "repo1-region-a",
            "repo2-path": self.root / "repo2-region-b",
            "log-path": self.root / "log",
            "lock-path": self.root / "lock",
            "spool-path": self.root / "spool",
        }
        for key, value in paths.items():
            parser["global"][key] = str(value)
        parser[STANZA]["pg1-path"] = str(self.data)
        parser[STANZA]["pg1-port"] = str(self.port)
        parser[STANZA]["pg1-socket-path"] = str(self.root)
        with self.config.open("w") as handle:
            parser.write(handle)

    def initdb(self) -> None:
        self.run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
        )
        archive = ARCHIVE_CONF.read_text().replace(
            "pgbackrest --stanza=flow", f"pgbackrest --config={self.config} --stanza={STANZA}"
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = ''\n"
                f"unix_socket_directories = '{self.root}'\nfsync = off\n{archive}\n"
            )


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="flow-pitr-"))
    cluster = Cluster(root)
    if cluster.as_postgres:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    try:
        yield cluster
    finally:
        if (cluster.data / "postmaster.pid").exists():
            cluster.run(
                str(cluster.bin / "pg_ctl"),
                "-D",
                str(cluster.data),
                "-m",
                "immediate",
                "-w",
                "stop",
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)


def step(name: str, started: float) -> float:
    now = time.perf_counter()
    print(f"{name:<58} {now - started:6.2f} s", flush=True)
    return now


def drill() -> None:
    with throwaway_cluster() as cluster:
        clock = time.perf_counter()
        cluster.write_pgbackrest_config()
        cluster.initdb()
        cluster.pg_ctl("start")
        clock = step(f"cluster on port {cluster.port}, archiving to two repositories", clock)
        cluster.pgbackrest("stanza-create")
        cluster.pgbackrest("check")
        cluster.pgbackrest("--repo=1", "--type=full", "backup")
        cluster.pgbackrest("--repo=2", "--type=full", "backup")
        clock = step("stanza-create, check, full backup to repo1 and repo2", clock)
        cluster.sql("CREATE TABLE drill_notes (note text PRIMARY KEY, at timestamptz)")
        for note in BEFORE:
            cluster.sql(f"INSERT INTO drill_notes VALUES ('{note}', clock_timestamp())")
        time.sleep(1.0)  # commit timestamps strictly before the target
        target = cluster.sql("SELECT clock_timestamp()")
        time.sleep(1.0)
        for note in AFTER:
            cluster.sql(f"INSERT INTO drill_notes VALUES ('{note}', clock_timestamp())")
        # Close the segment holding the later writes and wait until it is archived, so the
        # restore has WAL past the target (recovery must see where to stop).
        cluster.sql("SELECT pg_switch_wal()")
        cluster.pgbackrest("check")
        clock = step(f"writes {BEFORE}, target {target}, writes {AFTER}", clock)
        cluster.pg_ctl("-m", "fast", "stop")
        cluster.pgbackrest(
            "--repo=2",
            "--delta",
            "--type=time",
            f"--target={target}",
            "--target-action=promote",
            "restore",
        )
        cluster.pg_ctl("start")
        deadline = time.monotonic() + 60
        while cluster.sql("SELECT pg_is_in_recovery()") == "t":
            if time.monotonic() > deadline:
                raise DrillError("recovery did not finish within 60 s")
            time.sleep(0.2)
        clock = step("stop, restore from repo2 to the target time, start, promoted", clock)
        found = tuple(cluster.sql("SELECT note FROM drill_notes ORDER BY at").split())
        if found != BEFORE:
            raise DrillError(f"recovered {found}, expected exactly {BEFORE}")
        step(f"recovered exactly {found}", clock)


def main() -> int:
    started = time.perf_counter()
    try:
        drill()
    except (DrillError, subprocess.TimeoutExpired, OSError) as exc:
        print(f"error: PITR drill FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"PITR drill passed in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
