"""The rule model: the packaged defaults match the contract, and every fault reads clearly."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from intuitivus_flow.alerts.rules import (
    THRESHOLD_SIGNALS,
    RulesError,
    Severity,
    SloKind,
    default_rules,
    format_duration,
    load_rules,
    parse_duration,
    resolve_runbook_url,
)

REPO = Path(__file__).resolve().parents[2]

VALID_RULE = """\
  - name: {name}
    signal: cpu_usage_percent
    operator: ">"
    threshold: 80
    for: 10m
    severity: warning
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    assert caught.value.source == str(path)
    return caught.value.problems


class TestDefaults:
    # The table in docs/operations-contract.md, which restates the plan's thresholds.
    CONTRACT = {
        "HighResponseTimeP95": ("response_time_p95_ms", ">", 2000, "5m", Severity.critical),
        "HighErrorRate": ("error_rate_ratio", ">", 0.05, "5m", Severity.critical),
        "HighCpuUsage": ("cpu_usage_percent", ">", 80, "10m", Severity.warning),
        "HighMemoryUsage": ("memory_usage_percent", ">", 85, "10m", Severity.warning),
        "HighDiskUsage": ("disk_usage_percent", ">", 90, "5m", Severity.critical),
        "DatabasePoolSaturated": ("db_connections_percent", ">", 80, "5m", Severity.warning),
        "DatabaseDown": ("database_up", "<", 1, "1m", Severity.critical),
        "BackupTooOld": ("backup_fresh", "<", 1, "0s", Severity.critical),
        "BackupDrillFailed": ("backup_drill_ok", "<", 1, "0s", Severity.critical),
    }

    def test_thresholds_are_the_contract_table(self) -> None:
        rules = default_rules()
        found = {
            rule.name: (
                rule.signal,
                rule.operator,
                rule.threshold,
                format_duration(rule.for_),
                rule.severity,
            )
            for rule in rules.thresholds
        }
        assert found == self.CONTRACT

    def test_slos_are_availability_and_latency_with_the_workbook_tiers(self) -> None:
        rules = default_rules()
        by_kind = {rule.kind: rule for rule in rules.slos}
        assert by_kind[SloKind.availability].objective == 0.995
        assert by_kind[SloKind.latency].objective == 0.99
        assert by_kind[SloKind.latency].latency_threshold_seconds == 0.5
        for rule in rules.slos:
            assert rule.window == timedelta(days=30)
            assert rule.min_requests_per_hour > 0
            tiers = {
                (t.severity, format_duration(t.long_window), format_duration(t.short_window))
                for t in rule.tiers
            }
            assert tiers == {
                (Severity.critical, "1h", "5m"),
                (Severity.critical, "6h", "30m"),
                (Severity.warning, "3d", "6h"),
            }
            assert sorted(t.burn_rate for t in rule.tiers) == [1, 6, 14.4]

    def test_database_down_inhibits_the_symptoms_it_causes(self) -> None:
        (inhibition,) = default_rules().inhibitions
        assert inhibition.source == "DatabaseDown"
        assert {"HighResponseTimeP95", "HighErrorRate", "DatabasePoolSaturated"} <= set(
            inhibition.targets
        )

    def test_every_alert_links_to_an_existing_runbook(self) -> None:
        rules = default_rules()
        for rule in [*rules.thresholds, *rules.slos]:
            assert rule.runbook_url == f"docs/runbooks/{rule.name}.md"
            runbook = (REPO / rule.runbook_url).read_text()
            assert runbook.startswith(f"# {rule.name}"), rule.name
            for heading in ("## What it means", "## How to confirm", "## How to mitigate"):
                assert heading in runbook, (rule.name, heading)

    def test_load_rules_without_a_path_is_the_defaults(self) -> None:
        assert load_rules(None) == default_rules()

    def test_packaged_file_loads_from_its_path_too(self) -> None:
        path = REPO / "src/intuitivus_flow/alerts/default_rules.yaml"
        assert load_rules(path) == default_rules()


class TestThresholdRule:
    @pytest.mark.parametrize(
        ("operator", "value", "expected"),
        [(">", 80.5, True), (">", 80, False), (">=", 80, True), ("<", 79, True), ("<=", 81, False)],
    )
    def test_breached_applies_the_operator(
        self, tmp_path: Path, operator: str, value: float, expected: bool
    ) -> None:
        text = VALID_RULE.format(name="Cpu").replace('">"', f'"{operator}"')
        rule = load_rules(write(tmp_path, "thresholds:\n" + text)).threshold("Cpu")
        assert rule.breached(value) is expected

    def test_keep_firing_defaults_to_zero_and_runbook_to_the_alert_page(
        self, tmp_path: Path
    ) -> None:
        rule = load_rules(write(tmp_path, "thresholds:\n" + VALID_RULE.format(name="Cpu")))
        cpu = rule.threshold("Cpu")
        assert cpu.keep_firing_for == timedelta(0)
        assert cpu.for_ == timedelta(minutes=10)
        assert cpu.runbook_url == "docs/runbooks/Cpu.md"


class TestDurations:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("30s", timedelta(seconds=30)),
            ("5m", timedelta(minutes=5)),
            ("1h", timedelta(hours=1)),
            ("3d", timedelta(days=3)),
            ("1h30m", timedelta(minutes=90)),
            ("2w", timedelta(days=14)),
        ],
    )
    def test_parse_and_format_round_trip(self, text: str, expected: timedelta) -> None:
        assert parse_duration(text) == expected
        assert parse_duration(format_duration(expected)) == expected

    def test_format_prefers_the_largest_units(self) -> None:
        assert format_duration(timedelta(days=3)) == "3d"
        assert format_duration(timedelta(minutes=90)) == "1h30m"
        assert format_duration(timedelta(0)) == "0s"

    @pytest.mark.parametrize("text", ["5", "5 min", "1.5h", "m", "", "-5m", "5M"])
    def test_rejects_what_prometheus_would_not_read(self, text: str) -> None:
        with pytest.raises(ValueError, match="duration"):
            parse_duration(text)


class TestValidationErrors:
    def test_unknown_signal_lists_the_valid_ones(self, tmp_path: Path) -> None:
        text = VALID_RULE.format(name="Cpu").replace("cpu_usage_percent", "cpu")
        (problem,) = problems(write(tmp_path, "thresholds:\n" + text))
        assert problem.startswith(
            "thresholds[0] (Cpu).signal: unknown signal 'cpu'; valid signals:"
        )
        for signal in THRESHOLD_SIGNALS:
            assert signal in problem

    def test_slo_input_counts_are_refused_in_threshold_rules(self, tmp_path: Path) -> None:
        text = VALID_RULE.format(name="Count").replace("cpu_usage_percent", "requests_slow_count")
        (problem,) = problems(write(tmp_path, "thresholds:\n" + text))
        assert "(Count).signal" in problem
        assert "read by SLO rules only" in problem

    def test_bad_operator(self, tmp_path: Path) -> None:
        text = VALID_RULE.format(name="Cpu").replace('">"', '"=>"')
        (problem,) = problems(write(tmp_path, "thresholds:\n" + text))
        assert (
            problem
            == "thresholds[0] (Cpu).operator: invalid operator '=>'; use one of >, >=, <, <="
        )

    def test_missing_duration(self, tmp_path: Path) -> None:
        text = VALID_RULE.format(name="Cpu").replace("    for: 10m\n", "")
        (problem,) = problems(write(tmp_path, "thresholds:\n" + text))
        assert problem == "thresholds[0] (Cpu).for: missing (required)"

    def test_invalid_duration(self, tmp_path: Path) -> None:
        text = VALID_RULE.format(name="Cpu").replace("for: 10m", "for: 10 minutes")
        (problem,) = problems(write(tmp_path, "thresholds:\n" + text))
        assert problem.startswith("thresholds[0] (Cpu).for: invalid duration '10 minutes'")
        assert "e.g. 30s, 5m, 1h, 3d" in problem

    def test_unknown_field_catches_typos(self, tmp_path: Path) -> None:
        text = VALID_RULE.format(name="Cpu") + "    treshold: 3\n"
        (problem,) = problems(write(tmp_path, "thresholds:\n" + text))
        assert problem == "thresholds[0] (Cpu).treshold: unknown field"

    def test_duplicate_names_across_sections(self, tmp_path: Path) -> None:
        text = "thresholds:\n" + VALID_RULE.format(name="Cpu") + VALID_RULE.format(name="Cpu")
        (problem,) = problems(write(tmp_path, text))
        assert problem == (
            "thresholds[1] (Cpu).name: duplicate alert name, already used by thresholds[0] (Cpu)"
        )

    def test_unknown_alert_in_an_inhibition(self, tmp_path: Path) -> None:
        text = (
            "thresholds:\n"
            + VALID_RULE.format(name="Cpu")
            + "inhibitions:\n  - source: Ghost\n    targets: [Cpu, Phantom]\n"
        )
        found = problems(write(tmp_path, text))
        assert found == [
            "inhibitions[0] (Ghost).source: unknown alert 'Ghost'; defined alerts: Cpu",
            "inhibitions[0] (Ghost).targets: unknown alert 'Phantom'; defined alerts: Cpu",
        ]

    def test_every_problem_is_reported_at_once_with_the_file_name(self, tmp_path: Path) -> None:
        text = (
            "thresholds:\n"
            + VALID_RULE.format(name="A").replace("cpu_usage_percent", "nope")
            + VALID_RULE.format(name="B").replace("severity: warning", "severity: loud")
        )
        path = write(tmp_path, text)
        with pytest.raises(RulesError) as caught:
            load_rules(path)
        lines = str(caught.value).splitlines()
        assert len(lines) == 2
        assert all(line.startswith(f"{path}: thresholds[") for line in lines)
        assert "(B).severity" in lines[1]

    def test_bad_label_name_and_reserved_label(self, tmp_path: Path) -> None:
        text = VALID_RULE.format(name="Cpu") + "    labels: {severity: low}\n"
        (problem,) = problems(write(tmp_path, "thresholds:\n" + text))
        assert problem.startswith("thresholds[0] (Cpu).labels: label 'severity' is set by the rule")

    def test_invalid_alert_name(self, tmp_path: Path) -> None:
        (problem,) = problems(write(tmp_path, "thresholds:\n" + VALID_RULE.format(name="High-Cpu")))
        assert problem.startswith("thresholds[0] (High-Cpu).name: invalid name 'High-Cpu'")

    def test_not_yaml(self, tmp_path: Path) -> None:
        (problem,) = problems(write(tmp_path, "thresholds: [\n"))
        assert problem.startswith("line ")
        assert "not valid YAML" in problem

    def test_not_a_mapping(self, tmp_path: Path) -> None:
        (problem,) = problems(write(tmp_path, "- just\n- a list\n"))
        assert "must be a mapping" in problem

    def test_missing_file(self, tmp_path: Path) -> None:
        (problem,) = problems(tmp_path / "absent.yaml")
        assert problem.startswith("cannot read the rule file")


SLO = """\
slos:
  - name: Avail
    slo: availability
    kind: {kind}
    objective: {objective}
    window: 30d
{extra}    tiers:
      - {{severity: critical, long_window: {long}, short_window: {short}, burn_rate: {rate}}}
"""


def slo_text(**overrides: object) -> str:
    values: dict[str, object] = {
        "kind": "availability",
        "objective": 0.995,
        "extra": "",
        "long": "1h",
        "short": "5m",
        "rate": 14.4,
    }
    values.update(overrides)
    return SLO.format(**values)


class TestSloRule:
    def test_valid_slo_derives_windows_signals_and_severity(self, tmp_path: Path) -> None:
        rule = load_rules(write(tmp_path, slo_text())).slo("Avail")
        assert rule.windows == [timedelta(minutes=5), timedelta(hours=1)]
        assert rule.bad_signal == "requests_errors_count"
        assert rule.total_signal == "requests_total_count"
        assert rule.severity is Severity.critical
        assert rule.error_budget == pytest.approx(0.005)

    def test_short_window_must_be_shorter(self, tmp_path: Path) -> None:
        (problem,) = problems(write(tmp_path, slo_text(long="5m", short="1h")))
        assert problem == (
            "slos[0] (Avail).tiers[0]: short_window (1h) must be shorter than long_window (5m)"
        )

    def test_unreachable_burn_rate(self, tmp_path: Path) -> None:
        # 300x a 0.5 % budget is a 150 % error ratio.
        (problem,) = problems(write(tmp_path, slo_text(rate=300)))
        assert problem.startswith("slos[0] (Avail): tiers[0].burn_rate 300 can never be reached")

    def test_latency_slo_needs_the_history_threshold(self, tmp_path: Path) -> None:
        text = slo_text(kind="latency", extra="    latency_threshold_seconds: 1\n")
        (problem,) = problems(write(tmp_path, text))
        assert "latency_threshold_seconds must be 0.5" in problem

    def test_latency_slo_counts_slow_requests(self, tmp_path: Path) -> None:
        text = slo_text(kind="latency", extra="    latency_threshold_seconds: 0.5\n")
        assert load_rules(write(tmp_path, text)).slo("Avail").bad_signal == "requests_slow_count"

    def test_objective_must_be_a_ratio(self, tmp_path: Path) -> None:
        (problem,) = problems(write(tmp_path, slo_text(objective=99.5)))
        assert problem.startswith("slos[0] (Avail).objective: Input should be less than 1")


def test_runbook_urls_become_absolute_under_a_base() -> None:
    assert resolve_runbook_url("docs/runbooks/X.md", None) == "docs/runbooks/X.md"
    assert (
        resolve_runbook_url("docs/runbooks/X.md", "https://git.example/flow/blob/main/")
        == "https://git.example/flow/blob/main/docs/runbooks/X.md"
    )
    assert resolve_runbook_url("https://wiki/x", "https://other") == "https://wiki/x"
