"""The app shell: the sidebar's groups, what each role sees, the counts next to the items
(with data, per workspace, on both engines), their query budget, and the menu button markup."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request

from intuitivus_flow.alerts.models import Alert, AlertState
from intuitivus_flow.contacts.models import Contact
from intuitivus_flow.conversations.models import Conversation
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.roles import Role
from intuitivus_flow.identity.scopes import ROLE_SCOPES
from intuitivus_flow.web import shell
from intuitivus_flow.web.navigation import GROUPS, NAV, Badge, menu
from intuitivus_flow.workspaces.models import Workspace
from tests.web.browsing import Web, sign_up, text_of
from tests.web.test_pages import _invite, _join

# --- the groups ---------------------------------------------------------------------------


def test_items_are_grouped_by_job() -> None:
    assert {group.label: [item.label for item in group.items] for group in GROUPS} == {
        "Work": ["Overview", "Dashboard", "Inbox", "Contacts", "Campaigns", "Agents", "Crews"],
        "Insights": ["KPIs", "Funnels", "Forecasts"],
        "Operations": ["Service health", "Alerts", "Performance"],
        "Admin": ["Channels", "Billing", "Data", "Settings"],
    }
    assert len({item.href for item in NAV}) == len(NAV)  # counts are keyed by href


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


@dataclass
class _Viewer:
    is_admin: bool


def _seen(viewer: _Viewer, *, operator: bool) -> dict[str, list[str]]:
    shown = menu(viewer, "/", operator=operator)
    return {entry.group.label: [link.item.label for link in entry.items] for entry in shown}


def test_each_role_sees_its_items() -> None:
    member = _seen(_Viewer(is_admin=False), operator=False)
    assert "Operations" not in member  # a group with nothing to show is left out
    assert member["Insights"] == ["KPIs", "Funnels"]
    assert member["Admin"] == ["Settings"]

    # A tenant's admin: the workspace's admin pages, not the instance's operations pages
    # (they answer 403 to anyone outside an operator workspace).
    admin = _seen(_Viewer(is_admin=True), operator=False)
    assert "Operations" not in admin
    assert admin["Insights"] == ["KPIs", "Funnels"]
    assert admin["Admin"] == ["Channels", "Billing", "Data", "Settings"]

    operator = _seen(_Viewer(is_admin=True), operator=True)
    assert operator["Operations"] == ["Service health", "Alerts", "Performance"]
    assert operator["Insights"] == ["KPIs", "Funnels", "Forecasts"]
    # "operator" without the admin role is not a thing: the role gate comes first.
    assert "Operations" not in _seen(_Viewer(is_admin=False), operator=True)


def test_zero_counts_are_not_shown() -> None:
    badges = {"/inbox": (Badge(0, "escalated"), Badge(4, "unread"))}
    [work, *_] = menu(_Viewer(is_admin=False), "/inbox", badges=badges)
    inbox = next(link for link in work.items if link.item.href == "/inbox")
    assert inbox.current
    assert inbox.badges == (Badge(4, "unread"),)


# --- rendered, with data, on both engines ---------------------------------------------------


@pytest.fixture
def web(app: Any) -> Web:
    return Web(app)


def _sidebar(html: str) -> str:
    found = re.search(r'<nav class="sidebar" aria-label="Main">(.*?)</nav>', html, re.S)
    assert found, "the page has no sidebar"
    return found.group(1)


def _link_text(html: str, href: str) -> str | None:
    found = re.search(rf'<a href="{re.escape(href)}"[^>]*>(.*?)</a>', _sidebar(html), re.S)
    return text_of(found.group(1)).strip() if found else None


async def _workspace_id(web: Web, name: str) -> uuid.UUID:
    async with web.app.state.context.sessions() as session:
        found: uuid.UUID | None = await session.scalar(
            select(Workspace.id).where(Workspace.name == name)
        )
    assert found is not None
    return found


async def _conversations(web: Web, workspace_id: uuid.UUID, *states: str) -> None:
    async with web.app.state.context.sessions() as session, session.begin():
        contact = Contact(workspace_id=workspace_id, name="Ana")
        session.add(contact)
        await session.flush()
        for state in states:
            session.add(
                Conversation(
                    workspace_id=workspace_id, contact_id=contact.id, channel="webchat", state=state
                )
            )


async def _alerts(web: Web, *states: AlertState) -> None:
    now = datetime.now(UTC)
    async with web.app.state.context.sessions() as session, session.begin():
        for number, state in enumerate(states):
            session.add(
                Alert(
                    fingerprint=f"shell-{number}",
                    name="HighErrorRate",
                    labels={},
                    annotations={},
                    severity="critical",
                    state=state,
                    evaluated_at=now,
                )
            )


async def test_counts_belong_to_the_viewers_workspace_and_role(web: Web) -> None:
    async with web.client() as operator, web.client() as tenant, web.client() as member:
        # The first workspace operates the instance (auth/operators.py).
        await sign_up(operator, email="ops@example.com", workspace="Operators")
        await sign_up(tenant, email="tenant@example.com", workspace="Tenant")
        await _join(member, await _invite(operator, "mia@example.com"))
        await _conversations(
            web, await _workspace_id(web, "Operators"), "escalated", "escalated", "open", "closed"
        )
        await _conversations(web, await _workspace_id(web, "Tenant"), "escalated")
        await _alerts(web, AlertState.firing, AlertState.pending, AlertState.resolved)

        page = (await operator.get("/contacts")).text
        assert _link_text(page, "/inbox") == "Inbox 2 escalated"
        assert _link_text(page, "/alerts") == "Alerts 1 firing"
        assert 'class="nav-count nav-count--attention"' in page

        # Another tenant's admin: its own escalation, no link to (or count of) the instance's
        # alerts.
        page = (await tenant.get("/contacts")).text
        assert _link_text(page, "/inbox") == "Inbox 1 escalated"
        assert _link_text(page, "/alerts") is None
        assert _link_text(page, "/billing") == "Billing"
        assert "firing" not in page

        # A member of the operators' workspace: the workspace's escalations, no admin items.
        page = (await member.get("/contacts")).text
        assert _link_text(page, "/inbox") == "Inbox 2 escalated"
        for admin_only in ("/alerts", "/service-health", "/billing", "/data", "/channels"):
            assert _link_text(page, admin_only) is None, admin_only
        assert "firing" not in page

        # Nothing escalated: no badge at all (a "0" would be noise).
        async with web.app.state.context.sessions() as session, session.begin():
            for conversation in (await session.scalars(select(Conversation))).all():
                conversation.state = "closed"
        assert _link_text((await operator.get("/contacts")).text, "/inbox") == "Inbox"


@contextmanager
def _statements(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def _principal(workspace_id: uuid.UUID, role: Role) -> Principal:
    return Principal(workspace_id=workspace_id, role=role, scopes=ROLE_SCOPES[role])


def _request() -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": [], "state": {}})


async def test_one_query_per_count_once_per_request(web: Web) -> None:
    async with web.client() as owner:
        await sign_up(owner, workspace="Operators")
    workspace_id = await _workspace_id(web, "Operators")
    await _conversations(web, workspace_id, "escalated")
    context = web.app.state.context

    async with context.sessions() as session:
        with _statements(context.engine) as seen:
            state = await shell.compute(
                session, _principal(workspace_id, Role.member), context.settings
            )
        assert len(seen) == 2  # escalations, unread; a member is never an operator: no lookup
        assert state == shell.ShellState(
            operator=False,
            badges={"/inbox": (Badge(1, "escalated", "attention"), Badge(0, "unread", "neutral"))},
        )

        with _statements(context.engine) as seen:
            state = await shell.compute(
                session, _principal(workspace_id, Role.owner), context.settings
            )
        assert len(seen) == 4  # operator lookup, escalations, unread, firing alerts
        assert state.operator
        assert state.badges["/alerts"] == (Badge(0, "firing", "attention"),)

        request = _request()
        first = await shell.load(
            request, session, _principal(workspace_id, Role.owner), context.settings
        )
        with _statements(context.engine) as seen:
            again = await shell.load(
                request, session, _principal(workspace_id, Role.owner), context.settings
            )
        assert again is first
        assert seen == []
        assert shell.of(request) is first
        assert shell.of(_request()) == shell.NO_STATE


# --- the markup of the menu ---------------------------------------------------------------


async def test_the_menu_button_and_landmarks(web: Web) -> None:
    async with web.client() as browser:
        signed_out = (await browser.get("/signin")).text
        assert "shell-panel" not in signed_out
        assert 'aria-label="Main"' not in signed_out

        await sign_up(browser)
        page = (await browser.get("/agents")).text

    body = page.split("<body", 1)[1]
    # The skip link is the first thing to focus.
    assert re.match(r'[^>]*>\s*<a class="skip-link" href="#main">', body)
    # One banner holds the brand, the menu button, the navigation and the account.
    assert body.split("<main", 1)[0].count("<header") == 1  # a page's own header sits in main
    banner = body.split('<header class="shell">', 1)[1].split("</header>", 1)[0]
    # Without JavaScript: a labelled checkbox drives the panel...
    assert 'type="checkbox" id="shell-toggle"' in banner
    assert '<label for="shell-toggle" class="menu-button"' in banner
    # ...which flow.js swaps for a real button that reports its state.
    button = re.search(r"<button [^>]*data-menu-button[^>]*>", banner)
    assert button
    for attribute in ('type="button"', 'aria-controls="shell-panel"', 'aria-expanded="false"'):
        assert attribute in button.group(0)
    assert " hidden" in button.group(0)  # shown by the script only
    # The panel follows the button (focus order), holds the main navigation and the account.
    panel = banner.split('<div class="shell-panel" id="shell-panel">', 1)[1]
    assert body.index("shell-toggle") < body.index('id="shell-panel"') < body.index("<main")
    for group in ("work", "insights", "admin"):
        assert f'id="nav-{group}"' in panel
        assert f'aria-labelledby="nav-{group}"' in panel
    assert 'href="/agents" aria-current="page"' in panel
    assert panel.count('aria-current="page"') == 1
    assert 'action="/signout"' in panel
    assert '<main id="main" tabindex="-1"' in body

    async with web.client() as browser:
        script = (await browser.get("/static/flow.js")).text
    assert "aria-expanded" in script
    assert '"Escape"' in script
