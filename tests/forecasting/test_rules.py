"""Predictive rules in the rule file: validation, and their explicit absence from the export."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from intuitivus_flow.alerts.engine import timings
from intuitivus_flow.alerts.export.service import ALERTING_FILE, ExportOptions, export_prometheus
from intuitivus_flow.alerts.rules import PredictiveKind, RulesError, default_rules, parse_rules


def test_default_rules_ship_an_anomaly_and_a_forecast_breach_rule() -> None:
    rules = default_rules()
    kinds = {rule.name: rule.kind for rule in rules.predictive}
    assert kinds == {
        "DiskFillingUp": PredictiveKind.forecast_breach,
        "ResponseTimeAnomaly": PredictiveKind.anomaly,
    }
    disk = next(rule for rule in rules.predictive if rule.name == "DiskFillingUp")
    assert (disk.operator, disk.threshold, disk.direction) == (">", 90, "above")
    assert disk.runbook_url == "docs/runbooks/DiskFillingUp.md"
    assert timings(rules)["DiskFillingUp"].keep_firing_for.total_seconds() == 1800
    repo = Path(__file__).resolve().parents[2]
    for rule in rules.predictive:
        runbook = (repo / rule.runbook_url).read_text()
        assert runbook.startswith(f"# {rule.name}")
        for heading in ("## What it means", "## How to confirm", "## How to mitigate"):
            assert heading in runbook


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        (
            "{name: A, kind: forecast_breach, signal: disk_usage_percent, severity: warning}",
            "predictive[0] (A): a forecast_breach rule needs operator, threshold, horizon",
        ),
        (
            "{name: A, kind: anomaly, signal: disk_usage_percent, severity: info, horizon: 1h}",
            "predictive[0] (A): threshold and horizon apply to forecast_breach rules only",
        ),
        (
            "{name: A, kind: anomaly, signal: disk, severity: info}",
            "predictive[0] (A).signal: unknown signal 'disk'",
        ),
        (
            "{name: A, kind: anomaly, signal: disk_usage_percent, severity: info, detector: x}",
            "predictive[0] (A).detector: unknown detector 'x'; choose one of: default",
        ),
        (
            "{name: A, kind: guess, signal: disk_usage_percent, severity: info}",
            "predictive[0] (A).kind:",
        ),
    ],
)
def test_invalid_predictive_rules_are_explained(rule: str, problem: str) -> None:
    with pytest.raises(RulesError) as caught:
        parse_rules(f"predictive:\n  - {rule}\n", source="r.yaml")
    assert problem in str(caught.value)


def test_names_are_unique_across_sections() -> None:
    text = """
thresholds:
  - {name: Disk, signal: disk_usage_percent, operator: ">", threshold: 90, for: 5m,
     severity: critical}
predictive:
  - {name: Disk, kind: anomaly, signal: disk_usage_percent, severity: warning}
inhibitions:
  - {source: Disk, targets: [Nope]}
"""
    with pytest.raises(RulesError) as caught:
        parse_rules(text, source="r.yaml")
    assert caught.value.problems[0] == (
        "predictive[0] (Disk).name: duplicate alert name, already used by thresholds[0] (Disk)"
    )


def test_export_skips_predictive_rules_and_says_so(tmp_path: Path) -> None:
    export_prometheus(default_rules(), tmp_path, options=ExportOptions())
    text = (tmp_path / ALERTING_FILE).read_text()
    assert text.startswith("# Not exported: predictive rules")
    assert "#   - DiskFillingUp (kind: forecast_breach, signal: disk_usage_percent)" in text
    assert "#   - ResponseTimeAnomaly (kind: anomaly, signal: response_time_p95_ms)" in text
    exported = {
        rule["alert"] for group in yaml.safe_load(text)["groups"] for rule in group["rules"]
    }
    assert not exported & {"DiskFillingUp", "ResponseTimeAnomaly"}
