"""Exactly one navigation item is current on every page, including pages that share a section."""

from __future__ import annotations

import pytest

from intuitivus_flow.web.navigation import NAV


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/", "Overview"),
        ("/agents/123", "Agents"),
        ("/analytics/kpis", "KPIs"),
        ("/analytics/contacts", "KPIs"),
        ("/analytics/funnels", "Funnels"),
        ("/analytics/paths", "Funnels"),
        ("/analytics/retention", "Funnels"),
        ("/analytics/bottlenecks", "Funnels"),
        ("/performance", "Performance"),
    ],
)
def test_the_page_marks_its_own_item(path: str, label: str) -> None:
    assert [item.label for item in NAV if item.is_current(path)] == [label]
