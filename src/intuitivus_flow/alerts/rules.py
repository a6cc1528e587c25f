"""The typed alert-rule model: threshold, SLO and predictive rules and inhibitions, from YAML.

One rule file drives both the built-in engine (which evaluates the metric-history signals) and
the export to Prometheus/Alertmanager, so every name here is checked against the operations
contract (docs/operations-contract.md) at load time, and every error names the file, the rule
and the field::

    rules = load_rules(Path("my_rules.yaml"))  # or default_rules()
    for rule in rules.thresholds:
        if rule.breached(latest_value):
            ...
"""

from __future__ import annotations

import math
import operator as op
import re
from collections.abc import Callable, Iterable
from datetime import timedelta
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from intuitivus_flow.config import Settings
from intuitivus_flow.observability.latency_slo import DEFAULT_THRESHOLD_SECONDS

DEFAULT_RULES_RESOURCE = "default_rules.yaml"

# Metric-history signals (the `metrics.name` column), from the operations contract.
SLO_INPUT_SIGNALS = (
    "requests_total_count",
    "requests_errors_count",
    "requests_latency_count",
    "requests_slow_count",
)
THRESHOLD_SIGNALS = (
    "response_time_p50_ms",
    "response_time_p95_ms",
    "response_time_p99_ms",
    "error_rate_ratio",
    "requests_per_second",
    "cpu_usage_percent",
    "memory_usage_percent",
    "disk_usage_percent",
    "db_connections_percent",
    "queue_lag_seconds",
    "database_up",
    "redis_up",
    "backup_fresh",
    "backup_drill_ok",
)
SIGNALS = THRESHOLD_SIGNALS + SLO_INPUT_SIGNALS
# Sampled by the app from its backup store (backup/status.py), not from a Prometheus series:
# the engine evaluates their rules; the Prometheus export leaves them out.
IN_APP_SIGNALS = frozenset({"backup_fresh", "backup_drill_ok"})

# The history counts a covered request as slow above its route's threshold, this one for most
# routes (observability/latency_slo.py), so a latency SLO can only state this threshold; it is
# also a bucket of the HTTP histogram.
SLOW_REQUEST_SECONDS = DEFAULT_THRESHOLD_SECONDS
# Before its window holds enough requests for the budget to allow this many bad ones, an SLO's
# remaining budget is "not enough data": with 8 requests one slow sign-in read as -1150 %.
MIN_ALLOWED_BAD_REQUESTS = 10

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": op.gt,
    ">=": op.ge,
    "<": op.lt,
    "<=": op.le,
}
Operator = Literal[">", ">=", "<", "<="]

# Prometheus accepts these as alert and label names; Alertmanager routes on them.
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED_LABELS = frozenset({"alertname", "severity"})
_DURATION = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_DURATION_HINT = "use a whole number and a unit (s, m, h, d, w), e.g. 30s, 5m, 1h, 3d or 1h30m"


class Severity(StrEnum):
    critical = "critical"  # pages a human now
    warning = "warning"  # a ticket: needs attention within working hours
    info = "info"


class SloKind(StrEnum):
    availability = "availability"
    latency = "latency"


class PredictiveKind(StrEnum):
    anomaly = "anomaly"  # the newest point departs from what the series' past says is normal
    forecast_breach = "forecast_breach"  # the trend crosses `threshold` within `horizon`


class RulesError(ValueError):
    """The rule file cannot be used; ``problems`` holds one readable line per fault."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {problem}" for problem in problems))


def parse_duration(value: object) -> timedelta:
    """``"5m"`` → 5 minutes. Prometheus duration syntax, without fractions or milliseconds."""
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"missing or invalid duration {value!r}: {_DURATION_HINT}")
    match = _DURATION.match(value.strip())
    if match is None or not any(match.groups()):
        raise ValueError(f"invalid duration {value!r}: {_DURATION_HINT}")
    weeks, days, hours, minutes, seconds = (int(group or 0) for group in match.groups())
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest Prometheus spelling: 5 minutes → ``"5m"``, 90 minutes → ``"1h30m"``."""
    remaining = int(value.total_seconds())
    if remaining == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def default_runbook_url(alert: str) -> str:
    return f"docs/runbooks/{alert}.md"


def resolve_runbook_url(url: str, base_url: str | None) -> str:
    """Relative runbook links become absolute under ``base_url`` (FLOW_RUNBOOK_BASE_URL)."""
    if not base_url or "://" in url:
        return url
    return f"{base_url.rstrip('/')}/{url.lstrip('/')}"


def _check_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            f"invalid name {value!r}: use letters, digits and underscores "
            "(not starting with a digit)"
        )
    return value


def _check_labels(labels: dict[str, str]) -> dict[str, str]:
    for key in labels:
        if not _NAME.match(key):
            raise ValueError(f"invalid label name {key!r}: use letters, digits and underscores")
        if key in _RESERVED_LABELS:
            raise ValueError(f"label {key!r} is set by the rule itself; remove it from labels")
    return labels


class _Model(BaseModel):
    # Unknown keys are typos (e.g. `treshold`), so they are errors rather than silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _Alert(_Model):
    name: str
    severity: Severity
    labels: dict[str, str] = Field(default_factory=dict)
    summary: str = ""
    description: str = ""
    runbook_url: str = ""

    _name = field_validator("name")(_check_name)
    _labels = field_validator("labels")(_check_labels)

    @model_validator(mode="after")
    def _default_runbook(self) -> Self:
        if not self.runbook_url:
            object.__setattr__(self, "runbook_url", default_runbook_url(self.name))
        return self


class ThresholdRule(_Alert):
    """Fires when ``signal operator threshold`` holds for ``for_``, in the signal's own unit."""

    signal: str
    operator: Operator
    threshold: float
    for_: Duration = Field(alias="for")
    keep_firing_for: Duration = timedelta(0)

    @field_validator("signal")
    @classmethod
    def _known_signal(cls, value: str) -> str:
        if value in SLO_INPUT_SIGNALS:
            raise ValueError(
                f"signal {value!r} is a per-sample count read by SLO rules only; "
                "use error_rate_ratio or requests_per_second in a threshold rule"
            )
        if value not in THRESHOLD_SIGNALS:
            raise ValueError(
                f"unknown signal {value!r}; valid signals: {', '.join(THRESHOLD_SIGNALS)}"
            )
        return value

    def breached(self, value: float) -> bool:
        """Whether one sample of the signal meets the alert condition."""
        return OPERATORS[self.operator](value, self.threshold)


class BurnRateTier(_Model):
    """Alert when the error budget burns ``burn_rate`` times too fast over BOTH windows.

    The long window makes the alert significant, the short one makes it reset quickly once
    the problem is gone (SRE workbook, ch. 5, "multiwindow, multi-burn-rate alerts").
    """

    severity: Severity
    long_window: Duration
    short_window: Duration
    burn_rate: float = Field(gt=0)

    @model_validator(mode="after")
    def _short_inside_long(self) -> Self:
        if self.short_window >= self.long_window:
            raise ValueError(
                f"short_window ({format_duration(self.short_window)}) must be shorter than "
                f"long_window ({format_duration(self.long_window)})"
            )
        return self


class SloRule(_Alert):
    """An availability or latency SLO over ``window`` with burn-rate alert tiers.

    ``severity`` is the highest tier severity (filled in when omitted); each tier's own
    severity is the label of the alerts it raises.
    """

    severity: Severity = Severity.info
    slo: str
    kind: SloKind
    objective: float = Field(gt=0, lt=1)
    window: Duration = timedelta(days=30)
    latency_threshold_seconds: float | None = None
    min_requests_per_hour: float = Field(default=0, ge=0)
    # Requests the window needs before the remaining budget is reported (default: enough for
    # the budget to allow MIN_ALLOWED_BAD_REQUESTS, e.g. 1000 at 99 %).
    min_requests_for_budget: int | None = Field(default=None, ge=1)
    tiers: list[BurnRateTier] = Field(min_length=1)

    _slo_name = field_validator("slo")(_check_name)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.kind is SloKind.latency and self.latency_threshold_seconds != SLOW_REQUEST_SECONDS:
            raise ValueError(
                f"latency_threshold_seconds must be {SLOW_REQUEST_SECONDS} for a latency SLO "
                "(the metric history counts requests slower than 0.5 s as requests_slow_count; "
                "routes with their own threshold are listed in docs/operations-contract.md)"
            )
        if self.kind is SloKind.availability and self.latency_threshold_seconds is not None:
            raise ValueError("latency_threshold_seconds applies to latency SLOs only")
        budget = 1 - self.objective
        for index, tier in enumerate(self.tiers):
            # An error ratio cannot exceed 1, so such a tier could never fire.
            if tier.burn_rate * budget > 1:
                raise ValueError(
                    f"tiers[{index}].burn_rate {tier.burn_rate:g} can never be reached with "
                    f"objective {self.objective} (it needs an error ratio above 100 %)"
                )
        object.__setattr__(self, "severity", _highest(tier.severity for tier in self.tiers))
        return self

    @property
    def error_budget(self) -> float:
        return 1 - self.objective

    @property
    def budget_min_requests(self) -> int:
        """Requests the SLO window must hold before its remaining budget means anything."""
        if self.min_requests_for_budget is not None:
            return self.min_requests_for_budget
        # round() first: 10 / 0.01 is 1000.0000000000001 in floating point.
        return math.ceil(round(MIN_ALLOWED_BAD_REQUESTS / self.error_budget, 6))

    @property
    def total_signal(self) -> str:
        """The history signal counting the requests the SLO covers."""
        if self.kind is SloKind.availability:
            return "requests_total_count"
        return "requests_latency_count"

    @property
    def bad_signal(self) -> str:
        """The history signal counting requests that spend the budget."""
        if self.kind is SloKind.availability:
            return "requests_errors_count"
        return "requests_slow_count"

    @property
    def windows(self) -> list[timedelta]:
        """Every window the tiers read, shortest first."""
        found = {tier.long_window for tier in self.tiers} | {t.short_window for t in self.tiers}
        return sorted(found)


class PredictiveRule(_Alert):
    """A rule evaluated by a model trained on the signal's history (``forecasting/``).

    ``kind: anomaly`` fires when the model flags the newest complete step of the signal;
    ``kind: forecast_breach`` fires when the signal's trend is predicted to cross
    ``operator threshold`` within ``horizon``. Prometheus cannot evaluate either, so the export
    skips these rules (and says so in the exported file).
    """

    kind: PredictiveKind
    signal: str
    detector: str = "default"
    operator: Literal[">", "<"] | None = None
    threshold: float | None = None
    horizon: Duration | None = None
    for_: Duration = Field(default=timedelta(0), alias="for")
    keep_firing_for: Duration = timedelta(0)

    @field_validator("signal")
    @classmethod
    def _known_signal(cls, value: str) -> str:
        if value not in THRESHOLD_SIGNALS:
            raise ValueError(
                f"unknown signal {value!r}; valid signals: {', '.join(THRESHOLD_SIGNALS)}"
            )
        return value

    @field_validator("detector")
    @classmethod
    def _known_detector(cls, value: str) -> str:
        # Imported here: the registry loads the detector modules, which only this rule needs.
        from intuitivus_flow.predictive.detectors import available

        if value not in available():
            raise ValueError(f"unknown detector {value!r}; choose one of: {', '.join(available())}")
        return value

    @property
    def direction(self) -> Literal["above", "below"]:
        """Which way the forecast must cross the threshold (``>`` above, ``<`` below)."""
        return "below" if self.operator == "<" else "above"

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.kind is PredictiveKind.forecast_breach:
            missing = [
                name
                for name, value in (
                    ("operator", self.operator),
                    ("threshold", self.threshold),
                    ("horizon", self.horizon),
                )
                if value is None
            ]
            if missing:
                raise ValueError(f"a forecast_breach rule needs {', '.join(missing)}")
            if self.horizon is not None and self.horizon <= timedelta(0):
                raise ValueError("horizon must be longer than 0s")
        elif self.threshold is not None or self.horizon is not None:
            raise ValueError("threshold and horizon apply to forecast_breach rules only")
        return self


def _highest(severities: Iterable[Severity]) -> Severity:
    order = [Severity.info, Severity.warning, Severity.critical]
    return max(severities, key=order.index)


class Inhibition(_Model):
    """While ``source`` fires, ``targets`` are muted (when the ``equal`` labels match)."""

    source: str
    targets: list[str] = Field(min_length=1)
    equal: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _not_self(self) -> Self:
        if self.source in self.targets:
            raise ValueError(f"alert {self.source!r} cannot inhibit itself")
        return self


class RuleSet(_Model):
    thresholds: list[ThresholdRule] = Field(default_factory=list)
    slos: list[SloRule] = Field(default_factory=list)
    predictive: list[PredictiveRule] = Field(default_factory=list)
    inhibitions: list[Inhibition] = Field(default_factory=list)

    @property
    def alert_names(self) -> list[str]:
        """The alerts Prometheus can evaluate too (threshold and SLO rules, what export writes)."""
        return [rule.name for rule in self.thresholds] + [rule.name for rule in self.slos]

    @property
    def predictive_names(self) -> list[str]:
        return [rule.name for rule in self.predictive]

    def threshold(self, name: str) -> ThresholdRule:
        return next(rule for rule in self.thresholds if rule.name == name)

    def slo(self, name: str) -> SloRule:
        return next(rule for rule in self.slos if rule.name == name)


def load_rules(path: Path | None = None) -> RuleSet:
    """Read and validate a rule file; ``None`` means the packaged defaults.

    Raises :class:`RulesError` listing every problem, each naming the rule and field.
    """
    if path is None:
        return default_rules()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(str(path), [f"cannot read the rule file ({exc.strerror})"]) from None
    return parse_rules(text, source=str(path))


def default_rules() -> RuleSet:
    """The plan's thresholds and the two SLOs (docs/operations-contract.md)."""
    text = resources.files(__package__).joinpath(DEFAULT_RULES_RESOURCE).read_text("utf-8")
    return parse_rules(text, source=DEFAULT_RULES_RESOURCE)


def parse_rules(text: str, *, source: str) -> RuleSet:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise RulesError(source, [f"{where}not valid YAML ({reason})"]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RulesError(
            source, ["the file must be a mapping with thresholds/slos/predictive/inhibitions"]
        )
    try:
        rules = RuleSet.model_validate(data)
    except ValidationError as exc:
        raise RulesError(source, [_describe(error, data) for error in exc.errors()]) from None
    problems = _cross_check(rules)
    if problems:
        raise RulesError(source, problems)
    return rules


def _describe(error: Any, data: dict[str, Any]) -> str:
    """``thresholds[2] (HighCpuUsage).for: invalid duration '5 min': ...``"""
    loc = list(error["loc"])
    where = ""
    if len(loc) >= 2 and isinstance(loc[0], str) and isinstance(loc[1], int):
        section, index = loc[0], loc[1]
        where = f"{section}[{index}]{_rule_label(data, section, index)}"
        loc = loc[2:]
    else:
        where = "file"
    path = ".".join(str(part) if isinstance(part, str) else f"[{part}]" for part in loc)
    path = path.replace(".[", "[")
    field = f".{path}" if path else ""
    return f"{where}{field}: {_message(error)}"


def _rule_label(data: dict[str, Any], section: str, index: int) -> str:
    try:
        entry = data[section][index]
    except (KeyError, IndexError, TypeError):
        return ""
    if isinstance(entry, dict):
        name = entry.get("name") or entry.get("source")
        if isinstance(name, str):
            return f" ({name})"
    return ""


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        return "missing (required)"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "literal_error" and error["loc"][-1] == "operator":
        return f"invalid operator {error.get('input')!r}; use one of {', '.join(OPERATORS)}"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _cross_check(rules: RuleSet) -> list[str]:
    """Rules that are valid alone but not together: duplicate names, dangling inhibitions."""
    problems = []
    sections = (
        [("thresholds", rule.name) for rule in rules.thresholds]
        + [("slos", rule.name) for rule in rules.slos]
        + [("predictive", rule.name) for rule in rules.predictive]
    )
    seen: dict[str, str] = {}
    counters: dict[str, int] = {}
    for section, name in sections:
        index = counters.get(section, 0)
        counters[section] = index + 1
        here = f"{section}[{index}] ({name})"
        if name in seen:
            problems.append(f"{here}.name: duplicate alert name, already used by {seen[name]}")
        else:
            seen[name] = here
    known = set(seen)
    for index, inhibition in enumerate(rules.inhibitions):
        here = f"inhibitions[{index}] ({inhibition.source})"
        valid = ", ".join(sorted(known)) or "none"
        if inhibition.source not in known:
            problems.append(
                f"{here}.source: unknown alert {inhibition.source!r}; defined alerts: {valid}"
            )
        for target in inhibition.targets:
            if target not in known:
                problems.append(
                    f"{here}.targets: unknown alert {target!r}; defined alerts: {valid}"
                )
    return problems


@lru_cache(maxsize=8)
def _load_cached(path: Path | None, _mtime: float) -> RuleSet:
    return load_rules(path)


def configured_rules(settings: Settings) -> RuleSet:
    """The rule set in FLOW_ALERT_RULES_FILE (re-read when the file changes) or the defaults."""
    path = settings.alert_rules_file
    mtime = path.stat().st_mtime if path is not None and path.exists() else 0.0
    return _load_cached(path, mtime)
