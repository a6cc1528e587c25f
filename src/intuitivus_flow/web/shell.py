"""What the web shell needs per request beyond the viewer: whether they operate the instance
(the operations pages are theirs alone) and the counts shown next to the sidebar items.

Each count is one indexed COUNT, scoped to the viewer's workspace (instance-wide alerts only
for operators), computed once per request: `load` keeps the result on the request, and the
layout reads it through `of`. A count is computed only for viewers who see its item, so a
member's page never pays for (or learns) an admin section's figure.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.alerts.models import Alert, AlertState
from intuitivus_flow.alerts.repository import AlertRepository
from intuitivus_flow.auth.operators import require_operator
from intuitivus_flow.config import Settings
from intuitivus_flow.conversations.models import Conversation, ConversationState
from intuitivus_flow.conversations.repository import (
    ConversationRepository,
    InboxFilter,
    InboxView,
)
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.roles import Role
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.errors import Forbidden
from intuitivus_flow.web.navigation import NAV, Badge, NavItem

_REQUEST_KEY = "flow_shell"


@dataclass(frozen=True, slots=True)
class Counter:
    """One figure next to one sidebar item."""

    href: str  # the `NavItem.href` it sits next to; its audience decides who gets it
    noun: str
    scope: Scope  # the credential must be allowed to read what is counted
    count: Callable[[AsyncSession, Principal], Awaitable[int]]
    tone: str = "attention"


async def _escalated_conversations(session: AsyncSession, principal: Principal) -> int:
    repository = ConversationRepository(session, principal.workspace_id)
    return await repository.count(
        repository.scoped().where(Conversation.state == ConversationState.escalated)
    )


async def _unread_conversations(session: AsyncSession, principal: Principal) -> int:
    # The viewer's own: not closed, and the contact wrote since they last opened it.
    repository = ConversationRepository(session, principal.workspace_id)
    live = repository.scoped().where(Conversation.state != ConversationState.closed)
    unread = InboxFilter(InboxView.unread)
    return await repository.count(repository.narrow(live, unread, member_id=principal.user_id))


async def _firing_alerts(session: AsyncSession, principal: Principal) -> int:
    # Instance-wide on purpose: only operators get this counter (its item's audience).
    repository = AlertRepository(session)
    return await repository.count(repository.scoped().where(Alert.state == AlertState.firing))


COUNTERS: tuple[Counter, ...] = (
    Counter("/inbox", "escalated", Scope.conversations_read, _escalated_conversations),
    Counter("/inbox", "unread", Scope.conversations_read, _unread_conversations, tone="neutral"),
    Counter("/alerts", "firing", Scope.operations_read, _firing_alerts),
)


@dataclass(frozen=True, slots=True)
class ShellState:
    operator: bool = False
    # Keyed by `NavItem.href`.
    badges: Mapping[str, tuple[Badge, ...]] = field(default_factory=dict)


NO_STATE = ShellState()


async def is_operator(session: AsyncSession, principal: Principal, settings: Settings) -> bool:
    if principal.role.rank < Role.admin.rank:
        return False  # decided without a query: members never operate the instance
    try:
        await require_operator(session, principal, settings, scope=Scope.operations_read)
    except Forbidden:
        return False
    return True


async def compute(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    *,
    counters: tuple[Counter, ...] = COUNTERS,
) -> ShellState:
    operator = await is_operator(session, principal, settings)
    admin = principal.role.rank >= Role.admin.rank
    items: dict[str, NavItem] = {item.href: item for item in NAV}
    badges: dict[str, tuple[Badge, ...]] = {}
    for counter in counters:
        item = items[counter.href]
        if not item.shown_to(admin=admin, operator=operator):
            continue
        if counter.scope not in principal.scopes:
            continue
        count = await counter.count(session, principal)
        badge = Badge(count=count, noun=counter.noun, tone=counter.tone)
        badges[counter.href] = (*badges.get(counter.href, ()), badge)
    return ShellState(operator=operator, badges=badges)


async def load(
    request: Request, session: AsyncSession, principal: Principal, settings: Settings
) -> ShellState:
    """The shell state of this request, computed on first use."""
    found: ShellState | None = getattr(request.state, _REQUEST_KEY, None)
    if found is None:
        found = await compute(session, principal, settings)
        setattr(request.state, _REQUEST_KEY, found)
    return found


def of(request: Request) -> ShellState:
    """What `load` found for this request; nothing for a page rendered without a viewer."""
    found: ShellState | None = getattr(request.state, _REQUEST_KEY, None)
    return NO_STATE if found is None else found
