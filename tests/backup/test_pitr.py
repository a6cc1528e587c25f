"""The PITR drill (`make pitr-drill`) on a throw-away cluster: base backups to two
repositories, writes, a target time, more writes, restore from the second repository to the
target, and exactly the first writes back. About 20 s here."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import IN_CI

pytestmark = pytest.mark.slow

DRILL = Path(__file__).resolve().parents[2] / "deploy" / "pgbackrest" / "pitr_drill.py"


def test_point_in_time_recovery_restores_exactly_the_writes_before_the_target() -> None:
    missing = [tool for tool in ("pgbackrest",) if shutil.which(tool) is None]
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        missing.append("postgresql server binaries")
    if missing:
        if IN_CI:
            pytest.fail(f"{', '.join(missing)} missing; CI=true requires them")
        pytest.skip(f"{', '.join(missing)} not installed")

    leftovers = set(Path(tempfile.gettempdir()).glob("flow-pitr-*"))
    result = subprocess.run(
        [sys.executable, str(DRILL)], capture_output=True, text=True, timeout=240, check=False
    )

    assert result.returncode == 0, result.stderr
    assert "recovered exactly ('alpha', 'bravo', 'charlie')" in result.stdout
    # the cluster is stopped and its directory removed
    assert set(Path(tempfile.gettempdir()).glob("flow-pitr-*")) == leftovers
