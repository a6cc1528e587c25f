"""What the runner hands the Locust process: environment variables in, one JSON file out.

Locust runs under gevent in its own process (its monkey-patching must never meet the runner's
asyncio or the test suite), so everything crosses the boundary as data: the run's settings as
`LOADTEST_*` variables, the seeded workspaces as a JSON file (tokens included, owner-only),
and the measurements back as a JSON summary.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class RunSettings:
    profile: str
    scenario: str
    quick: bool
    rate_per_user: float
    seed_file: Path
    results_file: Path
    late_after_ms: float = 50.0  # a request starting later than this after its due time is late

    def to_env(self) -> dict[str, str]:
        return {
            "LOADTEST_PROFILE": self.profile,
            "LOADTEST_SCENARIO": self.scenario,
            "LOADTEST_QUICK": "1" if self.quick else "0",
            "LOADTEST_RATE": repr(self.rate_per_user),
            "LOADTEST_SEED_FILE": str(self.seed_file),
            "LOADTEST_RESULTS_FILE": str(self.results_file),
            "LOADTEST_LATE_AFTER_MS": repr(self.late_after_ms),
        }

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> RunSettings:
        return cls(
            profile=env["LOADTEST_PROFILE"],
            scenario=env["LOADTEST_SCENARIO"],
            quick=env.get("LOADTEST_QUICK") == "1",
            rate_per_user=float(env["LOADTEST_RATE"]),
            seed_file=Path(env["LOADTEST_SEED_FILE"]),
            results_file=Path(env["LOADTEST_RESULTS_FILE"]),
            late_after_ms=float(env.get("LOADTEST_LATE_AFTER_MS", "50")),
        )


@dataclass(frozen=True, slots=True)
class SeededSession:
    access_token: str
    refresh_token: str
    expires_at: float  # wall clock (time.time()): the two processes share no monotonic clock


@dataclass(frozen=True, slots=True)
class SeededNumber:
    phone_number_id: str
    app_secret: str


@dataclass(frozen=True, slots=True)
class SeededWorkspace:
    email: str
    password: str
    sessions: list[SeededSession]
    agent_ids: list[str]
    campaign_ids: list[str]
    contact_phones: list[str]  # E.164, the WhatsApp senders of the webhook scenario
    widget_key: str
    whatsapp: SeededNumber | None  # None when the server could not verify a number


@dataclass(frozen=True, slots=True)
class Seed:
    workspaces: list[SeededWorkspace] = field(default_factory=list)

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))
        path.chmod(0o600)  # tokens and app secrets

    @classmethod
    def read(cls, path: Path) -> Seed:
        raw: dict[str, Any] = json.loads(path.read_text())
        return cls(
            workspaces=[
                SeededWorkspace(
                    **{
                        **workspace,
                        "sessions": [SeededSession(**s) for s in workspace["sessions"]],
                        "whatsapp": SeededNumber(**workspace["whatsapp"])
                        if workspace["whatsapp"]
                        else None,
                    }
                )
                for workspace in raw["workspaces"]
            ]
        )
