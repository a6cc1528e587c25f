"""The sidebar of the web shell: items grouped by the job people come to do.

A page plugs in by adding one `NavItem` to its group in `GROUPS`; the layout renders whatever
is here, in order, and `menu` decides per request what the viewer sees, which item is current
and which counts sit next to the items (`web/shell.py` computes those).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum


class Audience(IntEnum):
    """Who sees an item; each level also includes the ones above it."""

    everyone = 0
    # Owners and admins of the workspace (billing, data, channels).
    admins = 1
    # Owners and admins of an operator workspace (auth/operators.py): the instance-wide
    # operations pages refuse everyone else, so a tenant's admin is not shown links to them.
    operators = 2


@dataclass(frozen=True, slots=True)
class Badge:
    """A count next to an item, e.g. 3 escalated conversations next to Inbox."""

    count: int
    # What is counted, read after the number by screen readers ("3 escalated").
    noun: str
    # `attention` when the count asks someone to act (escalations, firing alerts).
    tone: str = "neutral"


@dataclass(frozen=True, slots=True)
class NavItem:
    label: str
    href: str
    # The first path segment this item owns; "" is the overview at "/".
    section: str
    audience: Audience = Audience.everyone
    # Within a section shared by several items (`analytics`), the sub-paths this item owns.
    pages: tuple[str, ...] = ()

    @property
    def admin_only(self) -> bool:
        return self.audience >= Audience.admins

    def shown_to(self, *, admin: bool, operator: bool) -> bool:
        if self.audience is Audience.operators:
            return admin and operator
        return admin or self.audience is Audience.everyone

    def visible_to(self, viewer: object, *, operator: bool = False) -> bool:
        return self.shown_to(admin=bool(getattr(viewer, "is_admin", False)), operator=operator)

    def is_current(self, path: str) -> bool:
        segments = path.strip("/").split("/")
        if segments[0] != self.section:
            return False
        return not self.pages or (len(segments) > 1 and segments[1] in self.pages)


@dataclass(frozen=True, slots=True)
class NavGroup:
    label: str
    items: tuple[NavItem, ...]

    @property
    def slug(self) -> str:
        return self.label.lower()


GROUPS: tuple[NavGroup, ...] = (
    NavGroup(
        "Work",
        (
            NavItem(label="Overview", href="/", section=""),
            NavItem(label="Dashboard", href="/dashboard", section="dashboard"),
            NavItem(label="Inbox", href="/inbox", section="inbox"),
            NavItem(label="Contacts", href="/contacts", section="contacts"),
            NavItem(label="Campaigns", href="/campaigns", section="campaigns"),
            NavItem(label="Agents", href="/agents", section="agents"),
            NavItem(label="Crews", href="/crews", section="crews"),
        ),
    ),
    NavGroup(
        "Insights",
        (
            NavItem(
                label="KPIs",
                href="/analytics/kpis",
                section="analytics",
                pages=("kpis", "contacts"),
            ),
            NavItem(
                label="Funnels",
                href="/analytics/funnels",
                section="analytics",
                pages=("funnels", "paths", "retention", "bottlenecks"),
            ),
            NavItem(
                label="Forecasts",
                href="/forecasts",
                section="forecasts",
                audience=Audience.operators,
            ),
        ),
    ),
    NavGroup(
        "Operations",
        (
            NavItem(
                label="Service health",
                href="/service-health",
                section="service-health",
                audience=Audience.operators,
            ),
            NavItem(label="Alerts", href="/alerts", section="alerts", audience=Audience.operators),
            NavItem(
                label="Performance",
                href="/performance",
                section="performance",
                audience=Audience.operators,
            ),
        ),
    ),
    NavGroup(
        "Admin",
        (
            NavItem(
                label="Channels", href="/channels", section="channels", audience=Audience.admins
            ),
            NavItem(label="Billing", href="/billing", section="billing", audience=Audience.admins),
            NavItem(label="Data", href="/data", section="data", audience=Audience.admins),
            NavItem(label="Settings", href="/settings", section="settings"),
        ),
    ),
)

NAV: tuple[NavItem, ...] = tuple(item for group in GROUPS for item in group.items)


@dataclass(frozen=True, slots=True)
class MenuItem:
    """One link as the viewer sees it on this page."""

    item: NavItem
    current: bool
    badges: tuple[Badge, ...]


@dataclass(frozen=True, slots=True)
class MenuGroup:
    group: NavGroup
    items: tuple[MenuItem, ...]


def menu(
    viewer: object,
    path: str,
    *,
    operator: bool = False,
    badges: Mapping[str, Sequence[Badge]] | None = None,
    groups: Sequence[NavGroup] = GROUPS,
) -> list[MenuGroup]:
    """The groups `viewer` may see (a group with no visible item is left out), the current
    item marked and each item's badges (keyed by `NavItem.href`, zero counts dropped)."""
    found = badges or {}
    shown: list[MenuGroup] = []
    for group in groups:
        items = tuple(
            MenuItem(
                item=item,
                current=item.is_current(path),
                badges=tuple(badge for badge in found.get(item.href, ()) if badge.count > 0),
            )
            for item in group.items
            if item.visible_to(viewer, operator=operator)
        )
        if items:
            shown.append(MenuGroup(group=group, items=items))
    return shown
