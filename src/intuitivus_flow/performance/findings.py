"""The one shape every performance analyser reports in.

`perf analyze` gathers findings from independent analysers (endpoints, database, cache, jobs,
process, web pages), ranks them by estimated impact and renders them as a terminal table,
Markdown, HTML or JSON. An analyser that cannot look (no pg_stat_statements, no Redis, no
request history yet) says so with a `Skipped` entry instead of staying silent, so a report never
reads as "all healthy" when it is really "not measured".
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Area(enum.StrEnum):
    ENDPOINTS = "endpoints"
    DATABASE = "database"
    CACHE = "cache"
    JOBS = "jobs"
    PROCESS = "process"
    WEB = "web"


class Severity(enum.StrEnum):
    """How urgently a finding asks for action; ranking within a severity is by `impact`."""

    CRITICAL = "critical"  # users are affected now (errors, saturation, SLO burn)
    WARNING = "warning"  # measurable cost today that grows with load or data
    INFO = "info"  # worth knowing; no action required


@dataclass(frozen=True, slots=True)
class Finding:
    """One bottleneck: what was seen (numbers), what it costs, what to do."""

    area: Area
    code: str  # stable identifier of the rule that fired, e.g. "db.missing_index"
    title: str  # one line a person reads first
    severity: Severity
    # Estimated share of the instance's time or capacity at stake, 0..1: ranks findings across
    # areas (e.g. a statement's share of total database time, a route's share of request time).
    impact: float
    evidence: dict[str, float | int | str] = field(default_factory=dict)
    recommendation: str = ""  # the concrete action: SQL to run, setting to change, code path
    subject: str = ""  # what it is about: a route template, a statement, a queue, a page


@dataclass(frozen=True, slots=True)
class Skipped:
    """An analysis that could not run, and why (missing extension, no data yet, no Redis)."""

    area: Area
    reason: str


@dataclass(frozen=True, slots=True)
class Table:
    """Measurements behind the findings (per route, per queue, per page), for the report.

    `chart` names the column drawn as bars in the HTML report and the Performance page ("" for
    none); cells are numbers or text as measured, formatted by the report.
    """

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[float | int | str, ...], ...] = ()
    chart: str = ""
    unit: str = ""  # of the charted column


@dataclass(frozen=True, slots=True)
class AreaReport:
    area: Area
    findings: tuple[Finding, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    tables: tuple[Table, ...] = ()  # optional: what was measured, even when nothing fired


SEVERITY_ORDER = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}


def ranked(findings: list[Finding] | tuple[Finding, ...]) -> list[Finding]:
    """Most urgent first: by severity, then by estimated impact."""
    return sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], -f.impact, f.code))
