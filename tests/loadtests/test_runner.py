"""The command's options: which profiles run with what, what is refused, and the scratch
database and server environment it derives (no server started here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from loadtests.runner import parse_args, planned_profiles, seed_plan
from loadtests.server import ScratchDatabase, ServerError, ServerOptions, _server_env


def test_default_runs_the_plans_stages_then_the_headline_with_their_scenarios() -> None:
    plans = planned_profiles(parse_args([]))
    assert [(p.profile.name, p.scenario, p.rate, p.profile.peak_users) for p in plans] == [
        ("stages", "mix", 1.0, 200),
        ("headline", "dashboard", 1.0, 1000),
    ]


def test_quick_scales_profiles_and_seeding_down() -> None:
    args = parse_args(["--quick", "--profile", "headline", "--scenario", "mix", "--rate", "2"])
    (plan,) = planned_profiles(args)
    assert (plan.profile.name, plan.scenario, plan.rate) == ("headline", "mix", 2.0)
    assert plan.profile.seconds < 15
    assert seed_plan(args) == seed_plan(parse_args(["--quick"]))
    assert seed_plan(args).sessions < seed_plan(parse_args([])).sessions


@pytest.mark.parametrize(
    "argv",
    [
        ["--url", "http://127.0.0.1:8000", "--workers", "2"],
        ["--url", "http://127.0.0.1:8000", "--database", "postgresql://x@127.0.0.1/postgres"],
        ["--url", "127.0.0.1:8000"],
        ["--rate", "0"],
        ["--profile", "soak"],
    ],
)
def test_contradictory_or_bad_options_are_refused(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_scratch_database_is_a_fresh_name_on_the_given_server() -> None:
    first = ScratchDatabase("postgresql://postgres@127.0.0.1:5432/postgres")
    second = ScratchDatabase("postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    assert first.name != second.name
    assert first.name.startswith("flow_loadtest_")
    assert first.url == f"postgresql+asyncpg://postgres@127.0.0.1:5432/{first.name}"


def test_scratch_database_needs_postgresql() -> None:
    with pytest.raises(ServerError, match="postgresql"):
        ScratchDatabase("sqlite+aiosqlite:///x.db")


def test_server_environment_is_the_runs_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOW_DATABASE_URL", "postgresql+asyncpg://elsewhere/db")
    monkeypatch.setenv("FLOW_SECRET_KEY", "not-for-the-scratch-server")
    env = _server_env(
        Path("/tmp/x"), "http://127.0.0.1:9", ServerOptions(redis="redis://127.0.0.1:6379/3"), None
    )
    assert "FLOW_DATABASE_URL" not in env  # the scratch SQLite file in the data directory
    assert "FLOW_SECRET_KEY" not in env
    assert env["FLOW_DATA_DIR"] == "/tmp/x"
    assert env["FLOW_WHATSAPP_GRAPH_URL"] == "http://127.0.0.1:9"
    assert env["FLOW_REDIS_URL"] == "redis://127.0.0.1:6379/3"
    assert env["FLOW_SEED_DEMO"] == "false"
