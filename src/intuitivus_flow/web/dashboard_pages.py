"""The dashboard page: the same figures as `GET /api/dashboard`, with charts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from intuitivus_flow.dashboard import service as dashboard
from intuitivus_flow.kit.bar_chart import Bar, render_bars
from intuitivus_flow.kit.http.deps import Work
from intuitivus_flow.kit.money import format_money
from intuitivus_flow.web.app_context import Context
from intuitivus_flow.web.auth import CurrentViewer
from intuitivus_flow.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/dashboard")
async def dashboard_page(
    request: Request, work: Work, viewer: CurrentViewer, context: Context
) -> Response:
    data, _ = await dashboard.overview(work, viewer.principal, cache=context.cache)
    return render(
        request,
        "dashboard.html",
        {
            "viewer": viewer,
            "data": data,
            "charts": _charts(data),
        },
    )


def _charts(data: dict[str, Any]) -> dict[str, Any]:
    usage = data["llm_this_month"]
    charts = {
        "agents": render_bars(
            "Agents by status",
            [
                Bar(status.capitalize(), count, str(count))
                for status, count in sorted(data["agents_by_status"].items())
            ],
        ),
        "cost": render_bars(
            "LLM cost this month by provider (USD)",
            [
                Bar(row["provider"], row["cost_micros"], f"${row['cost_micros'] / 1e6:,.4f}")
                for row in usage
            ],
        ),
        "tokens": render_bars(
            "LLM tokens this month by provider",
            [Bar(row["provider"], row["tokens"], f"{row['tokens']:,}") for row in usage],
        ),
    }
    charts["conversations"] = render_bars(
        "Conversations by state",
        [
            Bar(state.capitalize(), count, str(count))
            for state, count in sorted(data["conversations_by_state"].items())
        ],
    )
    charts["spend"] = render_bars(
        "Campaign spend by platform",
        [
            Bar(
                f"{row['platform']} ({row['currency']})",
                row["spend_minor"],
                f"{format_money(row['spend_minor'], row['currency'])} · ROAS "
                + (f"{row['roas']:.2f}" if row["roas"] is not None else "—"),
            )
            for row in data["campaigns_by_platform"]
        ],
    )
    tasks = data["tasks_last_24h"]
    charts["tasks"] = render_bars(
        "Tasks in the last 24 hours",
        [
            Bar("Succeeded", tasks["succeeded"], str(tasks["succeeded"])),
            Bar("Failed", tasks["failed"], str(tasks["failed"])),
            Bar("In progress", tasks["in_progress"], str(tasks["in_progress"])),
        ],
    )
    return charts
