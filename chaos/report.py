"""One experiment's report: the Chaos Toolkit journal (`journal.json`), a summary
(`summary.json`), and the same summary readable as Markdown (`report.md`) and as a
self-contained HTML page with the latency/error timeline (`report.html`, `timeline.svg`)."""

from __future__ import annotations

import html
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from chaos import analysis
from chaos.environment import Environment

WIDTH, HEIGHT, PAD = 760, 260, 44


def summarize(
    experiment: dict[str, Any],
    journal: dict[str, Any],
    env: Environment,
    targets: dict[str, Any],
    configuration: dict[str, Any] | None = None,
) -> dict[str, Any]:
    record = env.record
    attempts, operations = record.load.snapshot() if record.load else ([], [])
    under = analysis.during(record.faults, operations, attempts)
    overall = analysis.figures(operations, attempts)
    recovery = analysis.recovery_seconds(record.faults, operations)
    hypothesis = experiment.get("steady-state-hypothesis", {})
    writes = record.writes or {"acknowledged": 0, "lost": 0, "duplicated": 0}
    states = journal.get("steady_states") or {}
    met = [(states.get(phase) or {}).get("steady_state_met") for phase in ("before", "after")]
    passed = (
        journal.get("status") == "completed"
        and not journal.get("deviated", False)
        and met == [True, True]
        and bool(record.faults)
        and writes.get("lost", 0) == 0
        and writes.get("duplicated", 0) == 0
    )
    return {
        "title": experiment.get("title", ""),
        "hypothesis": hypothesis.get("title", ""),
        "targets": targets,
        # As resolved for this run (environment variables override the file's defaults).
        "configuration": {k: v for k, v in (configuration or {}).items() if _plain(v)},
        "status": journal.get("status"),
        "deviated": journal.get("deviated", False),
        "steady_state_met": {"before": met[0], "after": met[1]},
        "verdict": "PASS" if passed else "FAIL",
        "steady_state": record.steady,
        "faults": [
            {"name": f.name, "started_s": round(f.started, 2), "ended_s": _round(f.ended)}
            for f in record.faults
        ],
        "marks": [{"at_s": round(at, 2), "what": what} for at, what in record.marks],
        "during_fault": asdict(under),
        "whole_load": asdict(overall),
        "recovery_seconds": recovery,
        "writes": writes,
        "campaign": record.campaign,
        "duration_s": journal.get("duration"),
    }


def _plain(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def write(
    directory: Path,
    *,
    experiment: dict[str, Any],
    journal: dict[str, Any],
    env: Environment,
    targets: dict[str, Any],
    configuration: dict[str, Any] | None = None,
) -> dict[str, Any]:
    summary = summarize(experiment, journal, env, targets, configuration)
    (directory / "journal.json").write_text(json.dumps(journal, indent=2, default=str))
    (directory / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    _, operations = env.record.load.snapshot() if env.record.load else ([], [])
    svg = timeline_svg(analysis.timeline(operations), summary)
    (directory / "timeline.svg").write_text(svg)
    (directory / "report.md").write_text(markdown(summary))
    (directory / "report.html").write_text(page(summary, svg))
    return summary


def _pct(value: float) -> str:
    return f"{value * 100:.3f} %"


def rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    under, whole = summary["during_fault"], summary["whole_load"]
    steady = summary["steady_state"]
    writes = summary["writes"]
    out = [
        ("Verdict", f"{summary['verdict']} (Chaos Toolkit: {summary['status']}, "
                    f"deviated: {summary['deviated']}, steady state met before/after: "
                    f"{summary['steady_state_met']['before']}/"
                    f"{summary['steady_state_met']['after']})"),
        ("Hypothesis", summary["hypothesis"]),
        ("Targets", ", ".join(f"{k} = {v}" for k, v in summary["targets"].items()) or "-"),
        ("Configuration", ", ".join(
            f"{k} = {v}" for k, v in summary.get("configuration", {}).items()) or "-"),
    ]  # fmt: skip
    for phase in ("before", "after"):
        if phase in steady:
            s = steady[phase]
            out.append(
                (f"Steady state {phase}", f"{_pct(s['success_ratio'])} succeed, "
                 f"p95 {s['p95_ms']:.0f} ms ({s['operations']:.0f} operations)")
            )  # fmt: skip
    out += [
        ("Fault", "; ".join(f"{f['name']} {f['started_s']}-{f['ended_s']} s"
                            for f in summary["faults"]) or "-"),
        ("Success ratio during fault", f"{_pct(under['success_ratio'])} of "
                                       f"{under['operations']} operations"),
        ("p95 during fault", f"{under['p95_ms']:.0f} ms"),
        ("Requests answered during fault", f"{_pct(under['answered_ratio'])} of "
         f"{under['attempts']}; 503: {under['unavailable']} "
         f"({under['unavailable_with_retry_after']} with Retry-After); "
         f"hanging: {under['hanging']}"),
        ("Whole load", f"{_pct(whole['success_ratio'])} of {whole['operations']} operations, "
                       f"p95 {whole['p95_ms']:.0f} ms"),
        ("Recovery after the fault", "-" if summary["recovery_seconds"] is None
         else f"{summary['recovery_seconds']:.2f} s"),
        ("Acknowledged writes", f"{writes.get('acknowledged', 0)}; lost: "
         f"{writes.get('lost', 0)}; stored twice: {writes.get('duplicated', 0)}"),
    ]  # fmt: skip
    if summary["marks"]:
        out.append(("Kills", ", ".join(f"{m['at_s']} s" for m in summary["marks"])))
    campaign = summary["campaign"]
    if campaign:
        out.append(
            ("Campaign", f"{campaign.get('delivered', 0)} of "
             f"{campaign['contacts'] * campaign['steps']} step deliveries, "
             f"{campaign.get('delivered_twice', 0)} twice; finished "
             f"{campaign.get('finished_after_kill_seconds', '-')} s after the kill")
        )  # fmt: skip
    return out


def markdown(summary: dict[str, Any]) -> str:
    lines = [f"# {summary['title']}", "", "| | |", "|---|---|"]
    lines += [f"| {name} | {value.replace('|', '/')} |" for name, value in rows(summary)]
    lines += ["", "Timeline: `timeline.svg`; journal: `journal.json`.", ""]
    return "\n".join(lines)


def page(summary: dict[str, Any], svg: str) -> str:
    body = "".join(
        f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"
        for name, value in rows(summary)
    )
    colour = "#1a7f37" if summary["verdict"] == "PASS" else "#cf222e"
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(summary['title'])}</title><style>"
        "body{font:14px system-ui,sans-serif;margin:2em;max-width:820px}"
        "th{text-align:left;padding:4px 12px 4px 0;vertical-align:top;white-space:nowrap}"
        f"h1{{font-size:20px}} .verdict{{color:{colour};font-weight:bold}}"
        "</style></head><body>"
        f"<h1>{html.escape(summary['title'])} <span class='verdict'>{summary['verdict']}</span>"
        f"</h1><table>{body}</table><h2>Timeline</h2>{svg}"
        "<p>Bars: operations per second (green succeeded, red failed); line: p95 latency "
        "per second; shaded: the fault; ticks: kills.</p></body></html>"
    )


def timeline_svg(seconds: list[analysis.Second], summary: dict[str, Any]) -> str:
    """Operations per second as stacked bars, p95 per second as a line (right axis)."""
    if not seconds:
        return f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='40'></svg>"
    start, end = seconds[0].at, seconds[-1].at + 1
    plot_w, plot_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    top_count = max(s.ok + s.failed for s in seconds) or 1
    top_ms = max(s.p95_ms for s in seconds) or 1.0

    def x(t: float) -> float:
        return PAD + (t - start) / (end - start) * plot_w

    def y_count(n: float) -> float:
        return PAD + plot_h - n / top_count * plot_h

    def y_ms(ms: float) -> float:
        return PAD + plot_h - ms / top_ms * plot_h

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{HEIGHT}' "
        f"viewBox='0 0 {WIDTH} {HEIGHT}' font-family='sans-serif' font-size='11'>",
        f"<title>{html.escape(summary['title'])}: operations and p95 per second</title>",
    ]
    for fault in summary["faults"]:
        ended = fault["ended_s"] if fault["ended_s"] is not None else end
        left, right = x(max(start, fault["started_s"])), x(min(end, ended))
        parts.append(
            f"<rect x='{left:.1f}' y='{PAD}' width='{max(1.0, right - left):.1f}' "
            f"height='{plot_h}' fill='#f6d5d5' opacity='0.6'/>"
        )
    bar = max(1.0, plot_w / (end - start) - 1)
    for s in seconds:
        parts.append(
            f"<rect x='{x(s.at):.1f}' y='{y_count(s.ok):.1f}' width='{bar:.1f}' "
            f"height='{y_count(0) - y_count(s.ok):.1f}' fill='#4caf50'/>"
        )
        if s.failed:
            parts.append(
                f"<rect x='{x(s.at):.1f}' y='{y_count(s.ok + s.failed):.1f}' width='{bar:.1f}' "
                f"height='{y_count(0) - y_count(s.failed):.1f}' fill='#e53935'/>"
            )
    points = " ".join(f"{x(s.at + 0.5):.1f},{y_ms(s.p95_ms):.1f}" for s in seconds)
    parts.append(f"<polyline points='{points}' fill='none' stroke='#1f4e9c' stroke-width='1.5'/>")
    for mark in summary["marks"]:
        mx = x(mark["at_s"])
        parts.append(f"<line x1='{mx:.1f}' x2='{mx:.1f}' y1='{PAD - 6}' y2='{PAD}' stroke='#000'/>")
    base = PAD + plot_h
    parts += [
        f"<line x1='{PAD}' x2='{PAD + plot_w}' y1='{base}' y2='{base}' stroke='#888'/>",
        f"<text x='{PAD}' y='{base + 16}'>{start} s</text>",
        f"<text x='{PAD + plot_w}' y='{base + 16}' text-anchor='end'>{end} s</text>",
        f"<text x='{PAD - 4}' y='{PAD + 4}' text-anchor='end'>{top_count}</text>",
        f"<text x='{PAD - 4}' y='{base}' text-anchor='end'>0</text>",
        f"<text x='{PAD + plot_w + 4}' y='{PAD + 4}' fill='#1f4e9c'>{top_ms:.0f} ms</text>",
        f"<text x='{PAD}' y='{PAD - 12}'>operations/s (green ok, red failed); "
        "blue: p95 latency</text>",
        "</svg>",
    ]
    return "".join(parts)
