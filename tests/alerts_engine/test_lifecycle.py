"""The alert lifecycle on the metric history, with a controllable clock, on both engines."""

from __future__ import annotations

from typing import Any

import pytest

from intuitivus_flow.alerts import service as alerts
from intuitivus_flow.alerts.rules import RuleSet, parse_rules
from intuitivus_flow.alerts.schemas import Matcher, SilenceCreate
from intuitivus_flow.kit.db import unit_of_work
from tests.alerts_engine.harness import Harness

RULES = """
thresholds:
  - {name: HighCpuUsage, signal: cpu_usage_percent, operator: ">", threshold: 80,
     for: 1m, keep_firing_for: 1m, severity: warning}
  - {name: HighResponseTimeP95, signal: response_time_p95_ms, operator: ">", threshold: 2000,
     for: 1m, severity: critical}
  - {name: DatabaseDown, signal: database_up, operator: "<", threshold: 1, for: 0s,
     severity: critical}
inhibitions:
  - {source: DatabaseDown, targets: [HighResponseTimeP95]}
"""


def rules() -> RuleSet:
    return parse_rules(RULES, source="test")


@pytest.fixture
def harness(app: Any) -> Harness:
    return Harness(context=app.state.context, rules=rules())


async def test_pending_then_firing_after_for_then_resolved_after_keep_firing(
    harness: Harness,
) -> None:
    assert (await harness.step({"cpu_usage_percent": 95})).transitions == [
        ("HighCpuUsage", "inactive", "pending")
    ]
    for _ in range(3):  # 15, 30, 45 s: still inside `for: 1m`
        await harness.step({"cpu_usage_percent": 95})
        assert await harness.state("HighCpuUsage") == "pending"
    await harness.step({"cpu_usage_percent": 95})  # 60 s
    assert await harness.state("HighCpuUsage") == "firing"

    # Recovered, but keep_firing_for 1m holds it: a dip does not flap it to resolved.
    for _ in range(3):
        await harness.step({"cpu_usage_percent": 10})
        assert await harness.state("HighCpuUsage") == "firing"
    await harness.step({"cpu_usage_percent": 95})  # breaches again: still one firing alert
    for _ in range(4):
        await harness.step({"cpu_usage_percent": 10})
    assert await harness.state("HighCpuUsage") == "resolved"
    assert await harness.transitions("HighCpuUsage") == [
        ("inactive", "pending"),
        ("pending", "firing"),
        ("firing", "resolved"),
    ]


async def test_a_short_spike_goes_pending_then_inactive_without_firing(harness: Harness) -> None:
    await harness.step({"cpu_usage_percent": 99})
    await harness.step({"cpu_usage_percent": 20})
    assert await harness.state("HighCpuUsage") == "inactive"
    assert await harness.transitions("HighCpuUsage") == [
        ("inactive", "pending"),
        ("pending", "inactive"),
    ]
    assert await harness.deliveries() == []


async def test_stale_samples_are_no_data_not_a_breach(harness: Harness) -> None:
    for _ in range(5):
        await harness.step({"cpu_usage_percent": 99})
    assert await harness.state("HighCpuUsage") == "firing"
    # The sampler stops: once the last sample is older than the staleness window (1 min in
    # the default options) and keep_firing_for has passed, the alert resolves.
    harness.clock.advance(minutes=3)
    await harness.evaluate()
    assert await harness.state("HighCpuUsage") == "resolved"


async def test_one_alert_per_rule_and_label_set(harness: Harness) -> None:
    for _ in range(6):
        harness.clock.advance(seconds=15)
        await harness.feed({"cpu_usage_percent": 90}, instance="web-1")
        await harness.feed({"cpu_usage_percent": 91}, instance="web-2")
        await harness.evaluate()
    found = [a for a in await harness.alerts() if a.name == "HighCpuUsage"]
    assert sorted(a.labels["instance"] for a in found) == ["web-1", "web-2"]
    assert {a.state for a in found} == {"firing"}
    assert len({a.fingerprint for a in found}) == 2
    assert found[0].annotations["value"] in {"90", "91"}


async def test_inhibition_mutes_targets_while_the_source_fires(harness: Harness) -> None:
    slow_and_down = {"response_time_p95_ms": 4000, "database_up": 0}
    for _ in range(5):
        await harness.step(slow_and_down)
    by_name = {a.name: a for a in await harness.alerts()}
    assert by_name["DatabaseDown"].state == "firing"
    assert by_name["HighResponseTimeP95"].state == "firing"
    assert by_name["HighResponseTimeP95"].inhibited_by == "DatabaseDown"
    assert by_name["DatabaseDown"].inhibited_by is None
    # Database back, latency still bad: the latency alert is no longer muted.
    await harness.step({"response_time_p95_ms": 4000, "database_up": 1})
    latency = next(a for a in await harness.alerts() if a.name == "HighResponseTimeP95")
    assert latency.state == "firing"
    assert latency.inhibited_by is None


async def test_silence_mutes_matching_alerts_until_it_expires(harness: Harness) -> None:
    async with unit_of_work(harness.context.sessions) as session:
        silence = await alerts.create_silence(
            session,
            SilenceCreate(
                matchers=[Matcher(name="alertname", op="=~", value="HighCpu.*")],
                duration_minutes=2,
                comment="planned load test",
            ),
            created_by="test",
            now=harness.clock.now(),
        )
    for _ in range(5):
        await harness.step({"cpu_usage_percent": 95, "response_time_p95_ms": 3000})
    by_name = {a.name: a for a in await harness.alerts()}
    assert by_name["HighCpuUsage"].silenced_by == silence.id
    assert by_name["HighResponseTimeP95"].silenced_by is None  # the matcher does not match
    harness.clock.advance(minutes=2)  # the silence ends
    await harness.step({"cpu_usage_percent": 95, "response_time_p95_ms": 3000})
    cpu = next(a for a in await harness.alerts() if a.name == "HighCpuUsage")
    assert cpu.silenced_by is None
    assert cpu.state == "firing"


async def test_expiring_a_silence_early(harness: Harness) -> None:
    async with unit_of_work(harness.context.sessions) as session:
        silence = await alerts.create_silence(
            session,
            SilenceCreate(
                matchers=[Matcher(name="instance", value="web-1")],
                duration_minutes=60,
                comment="maintenance",
            ),
            created_by="test",
            now=harness.clock.now(),
        )
    for _ in range(5):
        await harness.step({"cpu_usage_percent": 95})
    assert (await harness.alerts())[0].silenced_by == silence.id
    async with unit_of_work(harness.context.sessions) as session:
        await alerts.expire_silence(session, silence.id, expired_by="test", now=harness.clock.now())
    await harness.step({"cpu_usage_percent": 95})
    assert (await harness.alerts())[0].silenced_by is None
