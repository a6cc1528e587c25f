"""Results of a run: one row per profile appended to a CSV history, and a self-contained HTML
report (charts are inline SVG drawn by matplotlib: no script, no CDN, opens offline)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from matplotlib.figure import Figure  # used without pyplot: no GUI backend, no global state

from loadtests.gates import Gate

HISTORY_COLUMNS = (
    "finished_at",
    "commit",
    "target",
    "profile",
    "scenario",
    "quick",
    "peak_users",
    "offered_rps",
    "duration_s",
    "requests",
    "rps",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "max_ms",
    "service_p95_ms",
    "error_rate",
    "dropped",
    "late",
    "checks_failed",
    "passed",
)


@dataclass(frozen=True, slots=True)
class ProfileResult:
    profile: str
    scenario: str
    peak_users: int
    offered_rps: float
    summary: dict[str, Any]
    gates: list[Gate]

    @property
    def passed(self) -> bool:
        return all(gate.passed for gate in self.gates)


@dataclass(frozen=True, slots=True)
class RunInfo:
    finished_at: str  # ISO 8601, UTC
    commit: str
    target: str  # "embedded sqlite, 1 worker" or the URL
    quick: bool


def history_row(run: RunInfo, result: ProfileResult) -> dict[str, Any]:
    summary = result.summary
    latency = summary["latency_ms"]
    return {
        "finished_at": run.finished_at,
        "commit": run.commit,
        "target": run.target,
        "profile": result.profile,
        "scenario": result.scenario,
        "quick": run.quick,
        "peak_users": result.peak_users,
        "offered_rps": result.offered_rps,
        "duration_s": summary["duration_s"],
        "requests": summary["requests"],
        "rps": summary["rps"],
        "p50_ms": latency["p50"],
        "p95_ms": latency["p95"],
        "p99_ms": latency["p99"],
        "max_ms": latency["max"],
        "service_p95_ms": summary["service_latency_ms"]["p95"],
        "error_rate": round(float(summary["error_rate"]), 6),
        "dropped": summary["dropped"],
        "late": summary["late"],
        "checks_failed": summary["checks"]["failed"],
        "passed": result.passed,
    }


def append_history(path: Path, run: RunInfo, results: Sequence[ProfileResult]) -> None:
    """One row per profile; the header is written when the file is new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=HISTORY_COLUMNS)
        if new:
            writer.writeheader()
        for result in results:
            writer.writerow(history_row(run, result))


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and DOCTYPE: inline in HTML


def latency_chart(timeline: list[dict[str, float]]) -> str:
    figure = Figure(figsize=(9, 3.2))
    axes = figure.add_subplot()
    seconds = [row["t"] for row in timeline]
    for key, colour in (("p50", "#2a9d8f"), ("p95", "#e9c46a"), ("p99", "#e76f51")):
        axes.plot(seconds, [row[key] for row in timeline], label=key, color=colour, lw=1.2)
    axes.set_xlabel("seconds into the run")
    axes.set_ylabel("latency (ms, from due time)")
    axes.grid(alpha=0.3)
    users = axes.twinx()
    users.plot(seconds, [row["users"] for row in timeline], color="#264653", lw=1, ls="--")
    users.set_ylabel("users (dashed)")
    axes.legend(loc="upper left", frameon=False)
    return _svg(figure)


def throughput_chart(timeline: list[dict[str, float]]) -> str:
    figure = Figure(figsize=(9, 2.6))
    axes = figure.add_subplot()
    seconds = [row["t"] for row in timeline]
    axes.plot(seconds, [row["rps"] for row in timeline], label="requests/s", color="#264653")
    axes.bar(seconds, [row["failures"] for row in timeline], label="failures", color="#e63946")
    axes.bar(
        seconds,
        [row["dropped"] for row in timeline],
        bottom=[row["failures"] for row in timeline],
        label="dropped",
        color="#f4a261",
    )
    axes.set_xlabel("seconds into the run")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", frameon=False)
    return _svg(figure)


_TEMPLATE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Load test {{ run.finished_at }}: {{ "passed" if passed else "FAILED" }}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222 }
table { border-collapse: collapse; margin: .5rem 0 1rem }
td, th { padding: .2rem .7rem; border-bottom: 1px solid #ddd; text-align: right }
th:first-child, td:first-child { text-align: left }
.pass { color: #1b7f3b } .fail { color: #b00020; font-weight: 600 } svg { max-width: 100% }
</style></head><body>
<h1>Load test: <span class="{{ 'pass' if passed else 'fail' }}">
{{- "passed" if passed else "failed" }}</span></h1>
<p>{{ run.finished_at }} · commit {{ run.commit }} · {{ run.target }}
{%- if run.quick %} · quick (CI smoke) variant{% endif %}</p>
{% for result in results %}
<h2>{{ result.profile }}: {{ result.scenario }} scenario, up to {{ result.peak_users }} users
({{ result.offered_rps | round(1) }} requests/s offered at the peak)</h2>
<table><tr><th>gate</th><th>limit</th><th>measured</th><th></th></tr>
{% for gate in result.gates %}<tr><td>{{ gate.name }}</td><td>{{ gate.limit }}</td>
<td>{{ gate.measured }}</td><td class="{{ 'pass' if gate.passed else 'fail' }}">
{{- "pass" if gate.passed else "FAIL" }}</td></tr>
{% endfor %}</table>
{% set s = result.summary %}
<p>{{ s.requests }} requests in {{ s.duration_s }} s ({{ s.rps }} requests/s);
{{ s.late }} started late, {{ s.dropped }} dropped of {{ s.scheduled }} scheduled.
Latency from due time p50 {{ s.latency_ms.p50 }} ms, p95 {{ s.latency_ms.p95 }} ms,
p99 {{ s.latency_ms.p99 }} ms, max {{ s.latency_ms.max }} ms; server-side only (from send)
p95 {{ s.service_latency_ms.p95 }} ms.</p>
{{ charts[loop.index0].latency | safe }}
{{ charts[loop.index0].throughput | safe }}
<table><tr><th>request</th><th>count</th><th>failures</th><th>p50 ms</th><th>p95 ms</th>
<th>p99 ms</th><th>max ms</th></tr>
{% for name, e in s.endpoints.items() %}<tr><td>{{ name }}</td><td>{{ e.requests }}</td>
<td>{{ e.failures }}</td><td>{{ e.p50 }}</td><td>{{ e.p95 }}</td><td>{{ e.p99 }}</td>
<td>{{ e.max }}</td></tr>
{% endfor %}</table>
{% if s.checks.failed_by_name %}<p class="fail">Failed checks:
{% for name, count in s.checks.failed_by_name.items() %}
{{- name }} ({{ count }}){{ ", " if not loop.last }}
{% endfor %}</p>{% endif %}
{% endfor %}
</body></html>
"""
)


@dataclass(frozen=True, slots=True)
class _Charts:
    latency: str
    throughput: str


def render_html(run: RunInfo, results: Sequence[ProfileResult]) -> str:
    charts = [
        _Charts(
            latency_chart(result.summary["timeline"]),
            throughput_chart(result.summary["timeline"]),
        )
        for result in results
    ]
    return _TEMPLATE.render(
        run=run,
        results=results,
        charts=charts,
        passed=all(result.passed for result in results),
    )
