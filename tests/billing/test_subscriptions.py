"""Subscription status transitions (trialing, active, past_due, canceled), validated."""

from __future__ import annotations

import pytest

from intuitivus_flow.billing import service as billing
from intuitivus_flow.billing.models import Subscription, SubscriptionStatus
from intuitivus_flow.kit.errors import InvalidInput

S = SubscriptionStatus
ALLOWED = {
    (S.trialing, S.active),
    (S.trialing, S.past_due),
    (S.trialing, S.canceled),
    (S.active, S.past_due),
    (S.active, S.canceled),
    (S.past_due, S.active),
    (S.past_due, S.canceled),
    (S.canceled, S.trialing),
    (S.canceled, S.active),
}


class _Session:
    """Transitions only touch the row and record an event; the event write is stubbed."""


@pytest.mark.parametrize("start", list(S))
@pytest.mark.parametrize("end", list(S))
async def test_transition_table(
    start: SubscriptionStatus, end: SubscriptionStatus, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded: list[dict[str, object]] = []

    async def record(session: object, **kwargs: object) -> None:
        recorded.append(kwargs)

    monkeypatch.setattr("intuitivus_flow.events.service.record", record)
    subscription = Subscription(plan="pro", status=start.value)
    if start is end or (start, end) in ALLOWED:
        await billing.transition(_Session(), subscription, end, reason="test")  # type: ignore[arg-type]
        assert subscription.status == end.value
        assert len(recorded) == (0 if start is end else 1)
        if end is S.canceled and start is not end:
            assert subscription.canceled_at is not None
    else:
        with pytest.raises(InvalidInput):
            await billing.transition(_Session(), subscription, end)  # type: ignore[arg-type]
        assert subscription.status == start.value
        assert recorded == []
