"""A ranked analysis as a terminal table (rich), Markdown, self-contained HTML with SVG charts,
or JSON for machines."""

from __future__ import annotations

import io
import json
from enum import StrEnum
from html import escape

from rich.console import Console
from rich.table import Table as RichTable

from intuitivus_flow.performance.analyze import Analysis
from intuitivus_flow.performance.charts import findings_chart, table_chart
from intuitivus_flow.performance.findings import Finding, Table


class Format(StrEnum):
    table = "table"
    md = "md"
    html = "html"
    json = "json"


def render(analysis: Analysis, fmt: Format, *, width: int = 140) -> str:
    if fmt is Format.json:
        return json.dumps(analysis.to_dict(), indent=2)
    if fmt is Format.md:
        return to_markdown(analysis)
    if fmt is Format.html:
        return to_html(analysis)
    return to_text(analysis, width=width)


def _headline(analysis: Analysis) -> str:
    counts = {"critical": 0, "warning": 0, "info": 0}
    for finding in analysis.findings:
        counts[finding.severity.value] += 1
    return (
        f"{len(analysis.findings)} findings ({counts['critical']} critical, "
        f"{counts['warning']} warning, {counts['info']} info) on {analysis.engine}, window "
        f"{analysis.window.total_seconds() / 60:g} min, analysed in {analysis.seconds:.2f} s"
    )


def _evidence(finding: Finding) -> str:
    return ", ".join(f"{key}={value}" for key, value in finding.evidence.items())


def _cell(value: float | int | str) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# --- terminal ---------------------------------------------------------------------------------


def findings_table(analysis: Analysis) -> RichTable:
    table = RichTable(title="Findings, most urgent first", show_lines=True, expand=True)
    for name, ratio in (("#", 1), ("severity", 2), ("area", 2), ("finding", 8)):
        table.add_column(name, ratio=ratio, overflow="fold")
    table.add_column("impact", justify="right", ratio=2)
    table.add_column("recommendation", ratio=10, overflow="fold")
    styles = {"critical": "bold red", "warning": "yellow", "info": "dim"}
    for rank, finding in enumerate(analysis.findings, start=1):
        table.add_row(
            str(rank),
            f"[{styles[finding.severity.value]}]{finding.severity.value}[/]",
            finding.area.value,
            f"{escape_markup(finding.title)}\n[dim]{escape_markup(_evidence(finding))}[/]",
            f"{finding.impact:.0%}",
            escape_markup(finding.recommendation),
        )
    return table


def escape_markup(text: str) -> str:
    return text.replace("[", r"\[")


def print_analysis(analysis: Analysis, console: Console) -> None:
    console.print(_headline(analysis))
    if analysis.findings:
        console.print(findings_table(analysis))
    else:
        console.print("[green]No bottleneck found in what could be measured.[/]")
    for item in analysis.skipped:
        console.print(f"[dim]not analysed ({item.area.value}): {escape_markup(item.reason)}[/]")
    for area in analysis.areas:
        for table in area.tables:
            if table.rows:
                console.print(_rich_table(table))


def _rich_table(table: Table) -> RichTable:
    rendered = RichTable(title=table.title, expand=False)
    for index, column in enumerate(table.columns):
        rendered.add_column(column, justify="left" if index == 0 else "right", overflow="fold")
    for row in table.rows:
        rendered.add_row(*(escape_markup(_cell(value)) for value in row))
    return rendered


def to_text(analysis: Analysis, *, width: int = 140) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False)
    print_analysis(analysis, console)
    return buffer.getvalue()


# --- Markdown ---------------------------------------------------------------------------------


def _md(text: str) -> str:
    return text.replace("|", r"\|").replace("\n", " ")


def to_markdown(analysis: Analysis) -> str:
    lines = ["# Performance analysis", "", _headline(analysis), ""]
    if analysis.findings:
        lines += [
            "| # | severity | area | finding | evidence | impact | recommendation |",
            "|---|---|---|---|---|---|---|",
        ]
        for rank, f in enumerate(analysis.findings, start=1):
            lines.append(
                f"| {rank} | {f.severity.value} | {f.area.value} | {_md(f.title)} | "
                f"{_md(_evidence(f))} | {f.impact:.0%} | {_md(f.recommendation)} |"
            )
    else:
        lines.append("No bottleneck found in what could be measured.")
    if analysis.skipped:
        lines += ["", "## Not analysed", ""]
        lines += [f"- {s.area.value}: {_md(s.reason)}" for s in analysis.skipped]
    for area in analysis.areas:
        for table in area.tables:
            if not table.rows:
                continue
            lines += ["", f"## {area.area.value.title()}: {table.title}", ""]
            lines.append("| " + " | ".join(table.columns) + " |")
            lines.append("|" + "---|" * len(table.columns))
            lines += ["| " + " | ".join(_md(_cell(v)) for v in row) + " |" for row in table.rows]
    return "\n".join(lines) + "\n"


# --- HTML -------------------------------------------------------------------------------------

# The chart classes of flow.css, for a report opened on its own (no CDN, no script).
STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; color: #1f2933; margin: 2rem; max-width: 72rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #d9dee5; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.severity--critical { color: #b91c1c; font-weight: 600; }
.severity--warning { color: #b45309; }
.severity--info, .muted { color: #6b7280; }
.bars { width: 100%; max-width: 40rem; height: auto; display: block; }
.bars__label, .bars__value { fill: #1f2933; font-size: 12px; }
.bars__bar--0 { fill: #b45309; } .bars__bar--1 { fill: #3b3fc4; }
.bars__bar--2 { fill: #b91c1c; } .bars__bar--3 { fill: #0f766e; }
"""


def _html_table(table: Table) -> str:
    head = "".join(f"<th scope='col'>{escape(c)}</th>" for c in table.columns)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=num' if isinstance(v, int | float) else ''}>{escape(_cell(v))}</td>"
            for v in row
        )
        + "</tr>"
        for row in table.rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def findings_html(analysis: Analysis) -> str:
    rows = "".join(
        f"<tr><td class=num>{rank}</td>"
        f"<td class='severity--{f.severity.value}'>{f.severity.value}</td>"
        f"<td>{escape(f.area.value)}</td><td>{escape(f.title)}<br>"
        f"<span class=muted>{escape(_evidence(f))}</span></td>"
        f"<td class=num>{f.impact:.0%}</td><td>{escape(f.recommendation)}</td></tr>"
        for rank, f in enumerate(analysis.findings, start=1)
    )
    return (
        "<table><thead><tr><th>#</th><th>severity</th><th>area</th><th>finding</th>"
        f"<th>impact</th><th>recommendation</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def to_html(analysis: Analysis) -> str:
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        "<title>Performance analysis</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Performance analysis</h1>",
        f"<p>{escape(_headline(analysis))}</p>",
    ]
    if analysis.findings:
        parts += [str(findings_chart(analysis.findings)), findings_html(analysis)]
    else:
        parts.append("<p>No bottleneck found in what could be measured.</p>")
    if analysis.skipped:
        items = "".join(
            f"<li>{escape(s.area.value)}: {escape(s.reason)}</li>" for s in analysis.skipped
        )
        parts.append(f"<h2>Not analysed</h2><ul class=muted>{items}</ul>")
    for area in analysis.areas:
        for table in area.tables:
            if not table.rows:
                continue
            parts.append(f"<h2>{escape(area.area.value.title())}: {escape(table.title)}</h2>")
            chart = table_chart(table)
            if chart is not None:
                parts.append(str(chart))
            parts.append(_html_table(table))
    parts.append("</body></html>")
    return "\n".join(parts)
