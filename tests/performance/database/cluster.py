"""A throw-away PostgreSQL cluster that preloads pg_stat_statements and has HypoPG.

Never the machine's shared server: `shared_preload_libraries` needs a restart, so the tests
(and benchmarks/db_advisor.py) start their own cluster with chaos/processes.py and configure
it before its first start.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from chaos.processes import ProcessError, ThrowawayPostgres, postgres_bin


def hypopg_available(bin_dir: Path) -> bool:
    version = bin_dir.parent.name
    return Path(f"/usr/share/postgresql/{version}/extension/hypopg.control").exists()


@contextlib.contextmanager
def statistics_postgres(*, shared_buffers: str = "16MB") -> Iterator[ThrowawayPostgres]:
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise ProcessError("PostgreSQL server binaries not found under /usr/lib/postgresql")
    root = Path(tempfile.mkdtemp(prefix="flow-dbadvisor-pg-"))
    cluster = ThrowawayPostgres(root, bin_dir)
    try:
        cluster.initdb()
        with (cluster.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "shared_preload_libraries = 'pg_stat_statements'\n"
                "pg_stat_statements.track = top\n"
                f"shared_buffers = {shared_buffers}\n"
            )
        cluster.start()
        yield cluster
    finally:
        if cluster.running():
            with contextlib.suppress(ProcessError):
                cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
