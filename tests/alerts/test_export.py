"""The export: PromQL built right, and files that promtool and amtool accept and test green."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from intuitivus_flow.alerts.export.service import (
    ALERTING_FILE,
    ALERTMANAGER_FILE,
    RECORDING_FILE,
    TESTS_FILE,
    ExportOptions,
    alertmanager_config,
    burn_rate_expr,
    export_prometheus,
    exported_thresholds,
    threshold_expr,
)
from intuitivus_flow.alerts.rules import IN_APP_SIGNALS, default_rules, load_rules

from .conftest import run_tool

pytestmark = pytest.mark.slow


def read(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def alerts_by_name(exported: Path) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for group in read(exported / ALERTING_FILE)["groups"]:
        for rule in group["rules"]:
            found.setdefault(rule["alert"], []).append(rule)
    return found


class TestExpressions:
    OPTIONS = ExportOptions()

    @pytest.mark.parametrize(
        ("alert", "expected"),
        [
            # ms → s
            ("HighResponseTimeP95", "flow:http_request_duration_seconds:p95_5m > 2"),
            ("HighErrorRate", "flow:http_errors_per_request:ratio_rate5m > 0.05"),
            # percent → ratio
            ("HighCpuUsage", "flow:process_cpu:ratio > 0.8"),
            ("HighMemoryUsage", "flow:process_memory:ratio > 0.85"),
            ("HighDiskUsage", "flow:data_dir_disk_used:ratio > 0.9"),
            ("DatabasePoolSaturated", "flow:db_pool_checked_out:ratio > 0.8"),
            ("DatabaseDown", "flow:database_up < 1"),
        ],
    )
    def test_threshold_units_are_converted(self, alert: str, expected: str) -> None:
        assert threshold_expr(default_rules().threshold(alert), self.OPTIONS) == expected

    def test_burn_rate_expression_joins_both_windows_and_the_guard(self) -> None:
        rule = default_rules().slo("AvailabilityErrorBudgetBurn")
        page = next(t for t in rule.tiers if t.burn_rate == 14.4)
        expr = burn_rate_expr(rule, page)
        # 14.4 x 0.5 % = 0.072, written without float noise.
        assert 'flow:slo_errors_per_request:ratio_rate1h{slo="availability"} > 0.072' in expr
        assert 'flow:slo_errors_per_request:ratio_rate5m{slo="availability"} > 0.072' in expr
        assert "flow:http_requests:rate1h * 3600 >= 60" in expr

    def test_pool_capacity_follows_the_max_overflow_setting(self, tmp_path: Path) -> None:
        export_prometheus(
            default_rules(), tmp_path, options=ExportOptions(db_pool_capacity_factor=2)
        )
        records = {
            rule["record"]: rule["expr"]
            for group in read(tmp_path / RECORDING_FILE)["groups"]
            for rule in group["rules"]
        }
        assert records["flow:db_pool_checked_out:ratio"].endswith(
            "(sum without (pid) (flow_db_pool_size) * 2)"
        )


class TestFiles:
    def test_every_rule_is_exported_with_its_metadata(self, exported: Path) -> None:
        alerts = alerts_by_name(exported)
        rules = default_rules()
        in_app = {rule.name for rule in rules.thresholds if rule.signal in IN_APP_SIGNALS}
        assert in_app == {"BackupTooOld", "BackupDrillFailed"}
        assert set(alerts) == set(rules.alert_names) - in_app
        high_error = alerts["HighErrorRate"][0]
        assert high_error["for"] == "5m"
        assert high_error["keep_firing_for"] == "5m"
        assert high_error["labels"] == {"severity": "critical"}
        assert high_error["annotations"]["runbook_url"] == "docs/runbooks/HighErrorRate.md"
        assert high_error["annotations"]["summary"]
        burn = alerts["LatencyErrorBudgetBurn"]
        assert sorted(a["labels"]["long_window"] for a in burn) == ["1h", "3d", "6h"]
        assert {a["labels"]["severity"] for a in burn} == {"critical", "warning"}

    def test_slo_ratios_are_recorded_for_every_window(self, exported: Path) -> None:
        records = {
            rule["record"]
            for group in read(exported / RECORDING_FILE)["groups"]
            for rule in group["rules"]
        }
        for window in ("5m", "30m", "1h", "6h", "3d"):
            assert f"flow:slo_errors_per_request:ratio_rate{window}" in records
            assert f"flow:slo_slow_per_request:ratio_rate{window}" in records
            assert f"flow:http_requests:rate{window}" in records

    def test_runbook_base_url_makes_links_absolute(self, tmp_path: Path) -> None:
        options = ExportOptions(runbook_base_url="https://git.example/flow/blob/main")
        export_prometheus(default_rules(), tmp_path, options=options)
        for alerts in alerts_by_name(tmp_path).values():
            for alert in alerts:
                url = alert["annotations"]["runbook_url"]
                assert (
                    url == f"https://git.example/flow/blob/main/docs/runbooks/{alert['alert']}.md"
                )

    def test_alertmanager_routes_by_severity_and_mirrors_inhibitions(self) -> None:
        options = ExportOptions(page_webhook_url="http://p/", ticket_webhook_url="http://t/")
        config = alertmanager_config(default_rules(), options)
        assert config["route"]["group_by"] == ["alertname"]
        routes = {route["receiver"]: route["matchers"] for route in config["route"]["routes"]}
        assert routes == {
            "page": ['severity="critical"'],
            "ticket": ['severity=~"warning|info"'],
        }
        urls = {r["name"]: r["webhook_configs"][0]["url"] for r in config["receivers"]}
        assert urls == {"page": "http://p/", "ticket": "http://t/"}
        (inhibit,) = config["inhibit_rules"]
        assert inhibit["source_matchers"] == ['alertname="DatabaseDown"']
        assert inhibit["target_matchers"][0].startswith('alertname=~"HighResponseTimeP95|')

    def test_one_firing_and_one_quiet_test_per_threshold_alert(self, exported: Path) -> None:
        tests = read(exported / TESTS_FILE)["tests"]
        for rule in exported_thresholds(default_rules()):
            mine = [t for t in tests if t["name"].startswith(f"{rule.name} ")]
            assert len(mine) == 2, rule.name
            fires, quiet = mine
            assert fires["alert_rule_test"][-1]["exp_alerts"], rule.name
            assert all(not check["exp_alerts"] for check in quiet["alert_rule_test"])


class TestPromtool:
    def test_check_rules_accepts_both_files(self, promtool: str, exported: Path) -> None:
        result = run_tool(
            promtool, "check", "rules", exported / RECORDING_FILE, exported / ALERTING_FILE
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "SUCCESS: 13 rules found" in result.stdout + result.stderr

    def test_unit_tests_pass(self, promtool: str, exported: Path) -> None:
        result = run_tool(promtool, "test", "rules", exported / TESTS_FILE)
        assert result.returncode == 0, result.stdout + result.stderr

    @pytest.mark.parametrize(
        ("before", "after"),
        [
            # Forgetting the ms → s conversion: the alert could never fire.
            (
                "flow:http_request_duration_seconds:p95_5m > 2\n",
                "flow:http_request_duration_seconds:p95_5m > 2000\n",
            ),
            # A percent threshold left unscaled as a ratio fires far too early.
            ("flow:process_cpu:ratio > 0.8\n", "flow:process_cpu:ratio > 0.008\n"),
            # A shorter `for` fires while the test expects it pending.
            ("for: 10m", "for: 1m"),
            # Dropping the traffic guard lets a trickle of failures page.
            (">= 60", ">= 0"),
        ],
    )
    def test_unit_tests_catch_a_broken_rule(
        self, promtool: str, exported: Path, before: str, after: str
    ) -> None:
        alerting = exported / ALERTING_FILE
        text = alerting.read_text()
        assert before in text
        alerting.write_text(text.replace(before, after))
        result = run_tool(promtool, "test", "rules", exported / TESTS_FILE)
        assert result.returncode != 0, result.stdout

    def test_custom_rules_on_other_signals_export_and_pass(
        self, promtool: str, tmp_path: Path
    ) -> None:
        rules = tmp_path / "rules.yaml"
        rules.write_text(
            textwrap.dedent(
                """\
                thresholds:
                  - {name: SlowP99, signal: response_time_p99_ms, operator: ">=", threshold: 400,
                     for: 3m, severity: warning}
                  - {name: FastP50, signal: response_time_p50_ms, operator: "<", threshold: 30,
                     for: 2m, severity: info}
                  - {name: QueueLagging, signal: queue_lag_seconds, operator: ">", threshold: 120,
                     for: 90s, keep_firing_for: 1m, severity: warning}
                  - {name: RedisDown, signal: redis_up, operator: "<", threshold: 1, for: 1m,
                     severity: critical, labels: {team: platform}}
                  - {name: Busy, signal: requests_per_second, operator: ">", threshold: 50,
                     for: 2m, severity: info}
                  - {name: NoErrors, signal: error_rate_ratio, operator: "<=", threshold: 0,
                     for: 5m, severity: info}
                  - {name: LagForHours, signal: queue_lag_seconds, operator: ">", threshold: 600,
                     for: 3h, severity: info}
                slos:
                  - name: StrictAvailability
                    slo: strict
                    kind: availability
                    objective: 0.999
                    min_requests_per_hour: 0
                    tiers:
                      - {severity: critical, long_window: 1h, short_window: 5m, burn_rate: 14.4}
                """
            )
        )
        out = tmp_path / "out"
        export_prometheus(load_rules(rules), out, options=ExportOptions())
        check = run_tool(promtool, "check", "rules", out / RECORDING_FILE, out / ALERTING_FILE)
        assert check.returncode == 0, check.stdout + check.stderr
        result = run_tool(promtool, "test", "rules", out / TESTS_FILE)
        assert result.returncode == 0, result.stdout + result.stderr


class TestAmtool:
    def test_check_config_accepts_the_alertmanager_file(self, amtool: str, exported: Path) -> None:
        result = run_tool(amtool, "check-config", exported / ALERTMANAGER_FILE)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "1 inhibit rules" in result.stdout

    @pytest.mark.parametrize(
        ("labels", "receiver"),
        [
            (["alertname=HighErrorRate", "severity=critical"], "page"),
            (["alertname=HighCpuUsage", "severity=warning"], "ticket"),
            (["alertname=Info", "severity=info"], "ticket"),
        ],
    )
    def test_routes_send_each_severity_to_its_receiver(
        self, amtool: str, exported: Path, labels: list[str], receiver: str
    ) -> None:
        result = run_tool(
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={exported / ALERTMANAGER_FILE}",
            *labels,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.strip() == receiver
