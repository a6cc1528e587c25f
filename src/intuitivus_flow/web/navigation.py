"""The main navigation of the web shell.

Later domains plug in by appending one `NavItem` to `NAV` (e.g. Agents, Campaigns, Inbox,
Billing, Dashboard); the layout renders whatever is here, in order.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NavItem:
    label: str
    href: str
    # The first path segment this item owns; "" is the overview at "/".
    section: str
    # Shown only to owners and admins (the operations pages).
    admin_only: bool = False
    # Within a section shared by several items (`analytics`), the sub-paths this item owns.
    pages: tuple[str, ...] = ()

    def visible_to(self, viewer: object) -> bool:
        return not self.admin_only or bool(getattr(viewer, "is_admin", False))

    def is_current(self, path: str) -> bool:
        segments = path.strip("/").split("/")
        if segments[0] != self.section:
            return False
        return not self.pages or (len(segments) > 1 and segments[1] in self.pages)


NAV: tuple[NavItem, ...] = (
    NavItem(label="Overview", href="/", section=""),
    NavItem(label="Dashboard", href="/dashboard", section="dashboard"),
    NavItem(label="Agents", href="/agents", section="agents"),
    NavItem(label="Crews", href="/crews", section="crews"),
    NavItem(label="Campaigns", href="/campaigns", section="campaigns"),
    NavItem(label="Inbox", href="/inbox", section="inbox"),
    NavItem(label="Contacts", href="/contacts", section="contacts"),
    NavItem(label="Channels", href="/channels", section="channels", admin_only=True),
    NavItem(label="Settings", href="/settings", section="settings"),
    NavItem(
        label="Service health", href="/service-health", section="service-health", admin_only=True
    ),
    NavItem(label="KPIs", href="/analytics/kpis", section="analytics", pages=("kpis", "contacts")),
    NavItem(
        label="Funnels",
        href="/analytics/funnels",
        section="analytics",
        pages=("funnels", "paths", "retention", "bottlenecks"),
    ),
    NavItem(label="Alerts", href="/alerts", section="alerts", admin_only=True),
    NavItem(label="Forecasts", href="/forecasts", section="forecasts", admin_only=True),
    NavItem(label="Performance", href="/performance", section="performance", admin_only=True),
    NavItem(label="Billing", href="/billing", section="billing", admin_only=True),
    NavItem(label="Data", href="/data", section="data", admin_only=True),
)
