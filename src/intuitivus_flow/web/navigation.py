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

    def is_current(self, path: str) -> bool:
        first_segment = path.strip("/").split("/", 1)[0]
        return first_segment == self.section


NAV: tuple[NavItem, ...] = (
    NavItem(label="Overview", href="/", section=""),
    NavItem(label="Settings", href="/settings", section="settings"),
)
