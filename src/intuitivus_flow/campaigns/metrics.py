"""Derived campaign metrics. A ratio with a zero denominator is None (no clicks means no CPC,
not an infinite or zero one), so callers never divide by zero and charts show gaps."""

from __future__ import annotations

from intuitivus_flow.campaigns.repository import Totals
from intuitivus_flow.campaigns.schemas import Metrics


def ratio(numerator: int, denominator: int, *, digits: int = 4) -> float | None:
    if denominator == 0:
        return None
    return round(numerator / denominator, digits)


def derive(totals: Totals) -> Metrics:
    return Metrics(
        impressions=totals.impressions,
        clicks=totals.clicks,
        conversions=totals.conversions,
        spend_minor=totals.spend_minor,
        revenue_minor=totals.revenue_minor,
        ctr=ratio(totals.clicks, totals.impressions),
        cpc_minor=ratio(totals.spend_minor, totals.clicks, digits=2),
        cpa_minor=ratio(totals.spend_minor, totals.conversions, digits=2),
        roas=ratio(totals.revenue_minor, totals.spend_minor),
    )
