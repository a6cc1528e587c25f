"""The alert engine: rules over the metric history -> alert states, history and notifications.

One evaluation (`evaluate`) does, at one instant `now`:

1. observe: each threshold rule reads the newest sample of its signal per instance (samples
   older than the staleness window count as "no data", which is not a breach); each SLO rule
   sums its counts over every window and runs the multiwindow burn-rate decision (alerts/slo.py),
   one alert per tier severity (page / ticket), with the remaining error budget attached;
   predictive rules (anomaly, forecast breach) are observed by the `PredictiveObserver` the
   caller passes (forecasting/evaluator.py), which yields the same kind of observations;
2. advance each alert (one row per rule + label set, its fingerprint) through
   inactive -> pending -> firing -> resolved: pending once the condition holds, firing once it
   has held for the rule's `for`, resolved once it has been false for `keep_firing_for` (so an
   alert hovering around its threshold does not flap);
3. mute: inhibitions (a firing source mutes its targets) and silences (label matchers);
4. record every change of state in `alert_history`, and queue one notification per group
   (alert name) and receiver when alerts start firing unmuted, and when alerts that were
   announced as firing resolve. Each way is sent once: `notified_state` remembers it.

The caller holds the evaluator lease and owns the transaction; time comes from the caller, so
tests compress minutes into a few calls.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.alerts.models import Alert, AlertState, AlertTransition, Silence
from intuitivus_flow.alerts.notifications import service as notifications
from intuitivus_flow.alerts.notifications.service import Notifier
from intuitivus_flow.alerts.repository import AlertRepository, SilenceRepository
from intuitivus_flow.alerts.rules import (
    Inhibition,
    PredictiveRule,
    RuleSet,
    SloRule,
    resolve_runbook_url,
)
from intuitivus_flow.alerts.slo import WindowCounts, evaluate_slo, reported_error_budget
from intuitivus_flow.metrics_history.repository import MetricRepository

logger = logging.getLogger(__name__)


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


# An alert whose labels carry this key is observed by the job it names (analytics' KPI goal
# watcher), not by the rules: the engine leaves it alone between that job's runs instead of
# resolving it for want of a rule.
OBSERVED_BY = "observed_by"


@dataclass(frozen=True, slots=True)
class EngineOptions:
    # A sample older than this is no longer "the current value" of its signal.
    staleness: timedelta = timedelta(minutes=1)
    external_url: str = "http://127.0.0.1:8000"
    runbook_base_url: str | None = None


@dataclass(frozen=True, slots=True)
class Timing:
    for_: timedelta = timedelta(0)
    keep_firing_for: timedelta = timedelta(0)


@dataclass(frozen=True, slots=True)
class Observation:
    """What one rule says about one label set at this instant."""

    name: str
    labels: Mapping[str, str]  # includes `severity`; `alertname` is added when sent
    annotations: Mapping[str, str]
    breached: bool
    value: float | None
    timing: Timing

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.name, self.labels)

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")


def fingerprint(name: str, labels: Mapping[str, str]) -> str:
    """Stable identity of an alert: its name and label set, order-independent."""
    canonical = json.dumps({"alertname": name, **labels}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


class PredictiveObserver(Protocol):
    """Observes the predictive rules (implemented by forecasting.evaluator.PredictiveEvaluator).

    A rule whose model cannot predict (cold start, failed) must simply yield no observation.
    """

    async def observe(
        self,
        session: AsyncSession,
        rules: list[PredictiveRule],
        *,
        now: datetime,
        options: EngineOptions,
    ) -> list[Observation]: ...


@dataclass(slots=True)
class EvaluationReport:
    transitions: list[tuple[str, str, str]] = field(default_factory=list)  # name, from, to
    notifications_queued: int = 0


# --- 1. observe -------------------------------------------------------------------------------


def _format(value: float) -> str:
    return f"{value:.4g}"


async def observe_thresholds(
    metrics: MetricRepository, rules: RuleSet, *, now: datetime, options: EngineOptions
) -> list[Observation]:
    found = []
    for rule in rules.thresholds:
        latest = await metrics.latest_per_instance(
            rule.signal, since=now - options.staleness, until=now
        )
        for point in latest:
            annotations = {
                "summary": rule.summary,
                "description": rule.description,
                "runbook_url": resolve_runbook_url(rule.runbook_url, options.runbook_base_url),
                "value": _format(point.value),
            }
            found.append(
                Observation(
                    name=rule.name,
                    labels={**rule.labels, "instance": point.instance, "severity": rule.severity},
                    annotations=annotations,
                    breached=rule.breached(point.value),
                    value=point.value,
                    timing=Timing(rule.for_, rule.keep_firing_for),
                )
            )
    return found


async def window_counts(
    metrics: MetricRepository, rule: SloRule, *, now: datetime, window: timedelta
) -> WindowCounts:
    sums = await metrics.sums([rule.total_signal, rule.bad_signal], since=now - window, until=now)
    total = sums[rule.total_signal]
    # Bad and total come from the same sample, so bad <= total; clamp against float noise.
    return WindowCounts(total=total, bad=min(sums[rule.bad_signal], total))


async def observe_slo(
    metrics: MetricRepository, rule: SloRule, *, now: datetime, options: EngineOptions
) -> list[Observation]:
    counts = {w: await window_counts(metrics, rule, now=now, window=w) for w in rule.windows}
    decision = evaluate_slo(rule, counts)
    whole = await window_counts(metrics, rule, now=now, window=rule.window)
    budget = reported_error_budget(whole, rule.objective, min_requests=rule.budget_min_requests)
    observations = []
    for severity in dict.fromkeys(tier.severity for tier in rule.tiers):
        tiers = [d for d in decision.tiers if d.tier.severity == severity]
        burn = max(min(d.long_burn_rate, d.short_burn_rate) for d in tiers)
        annotations = {
            "summary": rule.summary,
            "description": rule.description,
            "runbook_url": resolve_runbook_url(rule.runbook_url, options.runbook_base_url),
            "value": _format(burn),
            "burn_rate": _format(burn),
            "remaining_error_budget": "not enough data" if budget is None else f"{budget:.2%}",
        }
        observations.append(
            Observation(
                name=rule.name,
                labels={**rule.labels, "slo": rule.slo, "severity": severity},
                annotations=annotations,
                breached=any(d.firing for d in tiers),
                value=burn,
                # The burn-rate windows already smooth the signal: no extra `for`.
                timing=Timing(),
            )
        )
    return observations


async def observe(
    session: AsyncSession,
    rules: RuleSet,
    *,
    now: datetime,
    options: EngineOptions,
    predictive: PredictiveObserver | None = None,
) -> list[Observation]:
    metrics = MetricRepository(session)
    found = await observe_thresholds(metrics, rules, now=now, options=options)
    for rule in rules.slos:
        found.extend(await observe_slo(metrics, rule, now=now, options=options))
    if predictive is not None and rules.predictive:
        found.extend(await observe_predictive(session, predictive, rules, now, options))
    return found


async def observe_predictive(
    session: AsyncSession,
    predictive: PredictiveObserver,
    rules: RuleSet,
    now: datetime,
    options: EngineOptions,
) -> list[Observation]:
    # The observer already degrades model by model; this guard is the last line, so that a bug
    # in it costs the predictive alerts of one tick and never the threshold and SLO alerts.
    try:
        return await predictive.observe(session, list(rules.predictive), now=now, options=options)
    except Exception:
        logger.exception("predictive rules not evaluated this tick; the other rules were")
        return []


# --- 2. advance -------------------------------------------------------------------------------


def advance(
    alert: Alert, *, breached: bool, value: float | None, timing: Timing, now: datetime
) -> bool:
    """Move one alert along its lifecycle; True when its state changed."""
    before = alert.state
    alert.evaluated_at = now
    if value is not None:
        alert.value = value
    if breached:
        _on_breach(alert, timing, now)
    elif alert.state == AlertState.pending:
        alert.state = AlertState.inactive  # never fired: nobody was told, nothing to resolve
        alert.active_at = None
    elif alert.state == AlertState.firing and _quiet_for(alert, now) >= timing.keep_firing_for:
        alert.state = AlertState.resolved
        alert.resolved_at = now
    return alert.state != before


def _on_breach(alert: Alert, timing: Timing, now: datetime) -> None:
    alert.last_true_at = now
    if alert.state in (AlertState.inactive, AlertState.resolved):
        alert.state = AlertState.pending
        alert.active_at = now
        alert.fired_at = alert.resolved_at = None
    if alert.state == AlertState.pending and now - (alert.active_at or now) >= timing.for_:
        alert.state = AlertState.firing
        alert.fired_at = now


def _quiet_for(alert: Alert, now: datetime) -> timedelta:
    return now - alert.last_true_at if alert.last_true_at else timedelta.max


def new_alert(observation: Observation, now: datetime) -> Alert:
    return Alert(
        fingerprint=observation.fingerprint,
        name=observation.name,
        labels=dict(observation.labels),
        annotations=dict(observation.annotations),
        severity=observation.severity,
        state=AlertState.inactive,
        evaluated_at=now,
    )


def timings(rules: RuleSet) -> dict[str, Timing]:
    found = {rule.name: Timing(rule.for_, rule.keep_firing_for) for rule in rules.thresholds}
    found.update({rule.name: Timing() for rule in rules.slos})
    found.update({rule.name: Timing(rule.for_, rule.keep_firing_for) for rule in rules.predictive})
    return found


# --- 3. mute ----------------------------------------------------------------------------------


def apply_inhibitions(alerts: Iterable[Alert], inhibitions: Sequence[Inhibition]) -> None:
    """A target is inhibited while a source alert fires with the same `equal` labels."""
    alerts = list(alerts)
    firing = [alert for alert in alerts if alert.state == AlertState.firing]
    for alert in alerts:
        alert.inhibited_by = _inhibitor(alert, firing, inhibitions)


def _inhibitor(
    alert: Alert, firing: Sequence[Alert], inhibitions: Sequence[Inhibition]
) -> str | None:
    for inhibition in inhibitions:
        if alert.name not in inhibition.targets:
            continue
        for source in firing:
            if source.name == inhibition.source and all(
                source.labels.get(label) == alert.labels.get(label) for label in inhibition.equal
            ):
                return source.name
    return None


def matches(matchers: Sequence[Mapping[str, str]], name: str, labels: Mapping[str, str]) -> bool:
    """Alertmanager matcher semantics: `=`, `!=`, `=~`, `!~` (regexes anchored); all must hold."""
    full = {"alertname": name, **labels}
    for matcher in matchers:
        actual = full.get(matcher["name"], "")
        op, wanted = matcher["op"], matcher["value"]
        if op == "=" and actual != wanted:
            return False
        if op == "!=" and actual == wanted:
            return False
        if op in ("=~", "!~") and (re.fullmatch(wanted, actual) is not None) != (op == "=~"):
            return False
    return True


def apply_silences(alerts: Iterable[Alert], silences: Sequence[Silence]) -> None:
    for alert in alerts:
        silence = next((s for s in silences if matches(s.matchers, alert.name, alert.labels)), None)
        alert.silenced_by = silence.id if silence else None


# --- 4. record and notify ---------------------------------------------------------------------


def transition(alert: Alert, before: AlertState, now: datetime) -> AlertTransition:
    return AlertTransition(
        alert_id=alert.id,
        fingerprint=alert.fingerprint,
        name=alert.name,
        labels=dict(alert.labels),
        from_state=before,
        to_state=alert.state,
        value=alert.value,
        at=now,
        muted=alert.muted,
    )


def plan_notifications(alerts: Iterable[Alert]) -> dict[tuple[str, str], list[Alert]]:
    """Groups (alert name, firing|resolved) -> alerts to announce, and marks them announced."""
    groups: dict[tuple[str, str], list[Alert]] = defaultdict(list)
    for alert in alerts:
        if (
            alert.state == AlertState.firing
            and not alert.muted
            and alert.notified_state != AlertState.firing
        ):
            groups[(alert.name, AlertState.firing)].append(alert)
            alert.notified_state = AlertState.firing
        elif alert.state != AlertState.firing and alert.notified_state == AlertState.firing:
            # Told it fired, so tell it ended, muted or not: receivers must see it close.
            groups[(alert.name, AlertState.resolved)].append(alert)
            alert.notified_state = AlertState.resolved
    return groups


async def evaluate(
    session: AsyncSession,
    rules: RuleSet,
    *,
    now: datetime,
    notifier: Notifier,
    options: EngineOptions,
    predictive: PredictiveObserver | None = None,
) -> EvaluationReport:
    observations = await observe(session, rules, now=now, options=options, predictive=predictive)
    by_fingerprint = {observation.fingerprint: observation for observation in observations}
    repository = AlertRepository(session)
    alerts = {alert.fingerprint: alert for alert in await repository.relevant(by_fingerprint)}
    before = {fp: alert.state for fp, alert in alerts.items()}
    _advance_all(alerts, by_fingerprint, timings(rules), now)
    for alert in alerts.values():
        if alert.fingerprint not in before:
            await repository.add(alert)
    apply_inhibitions(alerts.values(), rules.inhibitions)
    apply_silences(alerts.values(), await SilenceRepository(session).active(now))
    return await _record_and_notify(session, alerts.values(), before, now, notifier, options)


def _advance_all(
    alerts: dict[str, Alert],
    observations: Mapping[str, Observation],
    timing_by_name: Mapping[str, Timing],
    now: datetime,
) -> None:
    for fp, observation in observations.items():
        alert = alerts.get(fp)
        if alert is None:
            if not observation.breached:
                continue  # healthy and never alerted: no row needed
            alert = alerts[fp] = new_alert(observation, now)
        alert.annotations = dict(observation.annotations)
        advance(
            alert,
            breached=observation.breached,
            value=observation.value,
            timing=observation.timing,
            now=now,
        )
    for fp, alert in alerts.items():
        if fp not in observations and OBSERVED_BY in alert.labels:
            continue  # observed by a domain's own job (e.g. KPI goals), which advances it
        if fp not in observations:  # no fresh data (or the rule is gone): not a breach
            timing = timing_by_name.get(alert.name, Timing())
            advance(alert, breached=False, value=None, timing=timing, now=now)


async def _record_and_notify(
    session: AsyncSession,
    alerts: Iterable[Alert],
    before: Mapping[str, AlertState],
    now: datetime,
    notifier: Notifier,
    options: EngineOptions,
) -> EvaluationReport:
    report = EvaluationReport()
    alerts = list(alerts)
    for alert in alerts:
        previous = before.get(alert.fingerprint, AlertState.inactive)
        if alert.state != previous:
            session.add(transition(alert, previous, now))
            report.transitions.append((alert.name, previous, alert.state))
    for (name, status), group in plan_notifications(alerts).items():
        report.notifications_queued += notifications.queue(
            session,
            notifier,
            name=name,
            status=status,
            alerts=group,
            external_url=options.external_url,
            now=now,
        )
    await session.flush()
    return report
