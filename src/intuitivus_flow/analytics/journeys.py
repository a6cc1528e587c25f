"""Bottlenecks and UX recommendations (rule-based, every rule tested), and one person's journey.

Rules, each with the numbers that made it fire (docs/analytics.md):
- `largest_drop_off`: the step losing the largest share of the previous step's persons;
- `slow_step`: the step with the longest median time to convert, when over an hour;
- `conversion_fell`: a step whose conversion from the previous step fell by at least
  5 points against the previous period of the same length;
- `slower_than_before`: a step whose median time to convert grew by half or more;
- `no_conversion`: a step nobody reached although its previous step has persons.
Recommendations are ranked by the persons they estimate lost at their step.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from intuitivus_flow.analytics.funnels import run_funnel
from intuitivus_flow.analytics.schemas import (
    BottleneckQuery,
    BottleneckReport,
    Evidence,
    FunnelQuery,
    FunnelResult,
    FunnelStepResult,
    JourneyEvent,
    Recommendation,
    StepFilter,
    UserJourney,
)
from intuitivus_flow.analytics.store import AnalyticsStore

# The product's onboarding, as its own events name it (events/catalog.py).
ONBOARDING_STEPS = (
    ("user.signed_up", "Sign up"),
    ("agent.created", "Create an agent"),
    ("whatsapp_number.added", "Connect a channel"),
    ("conversation.agent_replied", "First conversation answered"),
    ("campaign.automation_started", "First campaign launched"),
    ("payment.confirmed", "First payment"),
)

# What to try when persons stop before a given onboarding step.
_ONBOARDING_ACTIONS = {
    "agent.created": "Offer agent templates right after sign-up and open the agent builder "
    "from the welcome screen.",
    "whatsapp_number.added": "Guide channel connection step by step (WhatsApp number check, "
    "web chat snippet) and send a reminder to those who created an agent but no channel.",
    "conversation.agent_replied": "Let the new agent answer a test conversation in the "
    "builder, and check agents for missing LLM keys or failing replies.",
    "campaign.automation_started": "Suggest a first campaign from a template, pre-filled with "
    "the connected channel's audience.",
    "payment.confirmed": "Show the plan's value before the trial ends (usage so far) and make "
    "checkout one step from the campaign results.",
}

# Also the order among recommendations of equal impact on one step.
RULES = (
    "largest_drop_off",
    "no_conversion",
    "conversion_fell",
    "slow_step",
    "slower_than_before",
    "stuck_at_step",
)
SLOW_SECONDS = 3600.0
FALL_POINTS = 0.05
SLOWER_RATIO = 1.5


def onboarding_funnel(**options: object) -> FunnelQuery:
    steps = [{"event": event, "name": name} for event, name in ONBOARDING_STEPS]
    return FunnelQuery.model_validate({"steps": steps, "window_seconds": 30 * 86400} | options)


def recommend(current: FunnelResult, previous: FunnelResult | None) -> list[Recommendation]:
    """The rules over a funnel result (and its previous period's), ranked by impact."""
    steps = current.steps
    found: list[Recommendation] = []
    later = [s for s in steps[1:] if steps[s.index - 2].count > 0]
    if later:
        worst = min(later, key=lambda s: (s.conversion_from_previous, -s.dropped))
        if worst.dropped > 0:
            found.append(
                _advice(
                    "largest_drop_off",
                    worst,
                    f"{_pct(1 - worst.conversion_from_previous)} of persons stop before "
                    f"'{worst.label}'",
                    worst.dropped,
                    [
                        Evidence(
                            metric="conversion_from_previous", value=worst.conversion_from_previous
                        ),
                        Evidence(metric="dropped", value=worst.dropped),
                    ],
                )
            )
        for step in later:
            if step.count == 0:
                found.append(
                    _advice(
                        "no_conversion",
                        step,
                        f"Nobody reached '{step.label}'",
                        step.dropped,
                        [
                            Evidence(metric="count", value=0),
                            Evidence(metric="previous_step_count", value=step.dropped),
                        ],
                    )
                )
    timed = [s for s in steps if s.median_seconds_to_convert is not None]
    if timed:
        slowest = max(timed, key=lambda s: s.median_seconds_to_convert or 0.0)
        median = slowest.median_seconds_to_convert or 0.0
        if median > SLOW_SECONDS:
            found.append(
                _advice(
                    "slow_step",
                    slowest,
                    f"'{slowest.label}' takes {_duration(median)} (median) after the step before",
                    slowest.count,
                    [
                        Evidence(metric="median_seconds_to_convert", value=median),
                        Evidence(
                            metric="mean_seconds_to_convert",
                            value=slowest.mean_seconds_to_convert or 0.0,
                        ),
                    ],
                )
            )
    if previous is not None:
        found += _against_history(steps, previous.steps)
    found.sort(key=lambda r: (-r.impact_persons, r.step, RULES.index(r.rule)))
    return found


def _against_history(
    steps: list[FunnelStepResult], before: list[FunnelStepResult]
) -> list[Recommendation]:
    found = []
    for now, then in zip(steps[1:], before[1:], strict=True):
        base = steps[now.index - 2].count
        if then.count and base:
            fall = then.conversion_from_previous - now.conversion_from_previous
            if fall >= FALL_POINTS:
                found.append(
                    _advice(
                        "conversion_fell",
                        now,
                        f"Conversion into '{now.label}' fell from "
                        f"{_pct(then.conversion_from_previous)} to "
                        f"{_pct(now.conversion_from_previous)}",
                        round(fall * base),
                        [
                            Evidence(
                                metric="conversion_from_previous",
                                value=now.conversion_from_previous,
                                baseline=then.conversion_from_previous,
                            )
                        ],
                    )
                )
        was, now_median = then.median_seconds_to_convert, now.median_seconds_to_convert
        if was and now_median and now_median >= SLOWER_RATIO * was and now_median > 60:
            found.append(
                _advice(
                    "slower_than_before",
                    now,
                    f"'{now.label}' now takes {_duration(now_median)} (median), "
                    f"was {_duration(was)}",
                    now.count,
                    [Evidence(metric="median_seconds_to_convert", value=now_median, baseline=was)],
                )
            )
    return found


def _advice(
    rule: str, step: FunnelStepResult, title: str, impact: int, evidence: list[Evidence]
) -> Recommendation:
    action = _ONBOARDING_ACTIONS.get(
        step.event,
        f"Look at the paths of persons who stop before '{step.label}' (Paths, drop-offs) "
        "and remove what they meet first.",
    )
    return Recommendation(
        rule=rule,
        step=step.index,
        title=title,
        action=action,
        impact_persons=int(impact),
        evidence=evidence,
    )


def find_bottlenecks(
    store: AnalyticsStore, workspace_id: uuid.UUID, query: BottleneckQuery, *, now: datetime
) -> BottleneckReport:
    end = query.date_to or now
    start = query.date_from or end - timedelta(days=30)
    current_query = FunnelQuery.model_validate(
        query.model_dump() | {"date_from": start, "date_to": end}
    )
    length = end - start
    previous_query = FunnelQuery.model_validate(
        query.model_dump()
        | {"date_from": start - length, "date_to": start - timedelta(microseconds=1)}
    )
    current = run_funnel(store, workspace_id, current_query)
    previous = run_funnel(store, workspace_id, previous_query)
    has_history = previous.steps[0].count > 0
    return BottleneckReport(
        current=current,
        previous=previous if has_history else None,
        recommendations=recommend(current, previous if has_history else None),
    )


def analyze_user_journey(
    store: AnalyticsStore,
    workspace_id: uuid.UUID,
    person_id: str,
    *,
    funnel: FunnelQuery | None = None,
    session_gap_seconds: int = 1800,
    limit: int = 500,
) -> UserJourney:
    """One person's events in sessions, how far they got in `funnel` (the onboarding by
    default), where they are stuck and what to do about it."""
    funnel = funnel or onboarding_funnel()
    rows = store.query(
        workspace_id,
        "SELECT event, timestamp FROM {events} WHERE person_id = {person} "
        f"ORDER BY timestamp, message_id LIMIT {int(limit)}",
        person=person_id,
    ).rows
    events: list[JourneyEvent] = []
    session = 0
    last: datetime | None = None
    for event, stamp in rows:
        if last is None or (stamp - last).total_seconds() > session_gap_seconds:
            session += 1
        events.append(JourneyEvent(event=str(event), timestamp=stamp, session=session))
        last = stamp
    furthest = _furthest_step(funnel.steps, events, funnel.window_seconds)
    stuck = funnel.steps[furthest] if furthest < len(funnel.steps) else None
    recommendations = []
    if stuck is not None and furthest > 0:
        idle = (datetime.now(UTC) - events[-1].timestamp).total_seconds() if events else 0.0
        step = FunnelStepResult(
            index=furthest + 1,
            event=stuck.event,
            label=stuck.label,
            count=0,
            conversion_from_first=0.0,
            conversion_from_previous=0.0,
            dropped=1,
            median_seconds_to_convert=None,
            mean_seconds_to_convert=None,
        )
        recommendations.append(
            _advice(
                "stuck_at_step",
                step,
                f"Stopped before '{stuck.label}'",
                1,
                [
                    Evidence(metric="steps_done", value=furthest),
                    Evidence(metric="seconds_since_last_event", value=round(idle, 1)),
                ],
            )
        )
    return UserJourney(
        person_id=person_id,
        events=events,
        sessions=session,
        furthest_step=furthest,
        funnel_steps=[s.label for s in funnel.steps],
        stuck_at=stuck.label if stuck is not None and furthest > 0 else None,
        recommendations=recommendations,
    )


def _furthest_step(steps: list[StepFilter], events: list[JourneyEvent], window: int) -> int:
    """The funnel's sequential rule for one person (event names only; properties are matched
    by the store's funnels)."""
    best = 0
    for start, first in enumerate(events):
        if first.event != steps[0].event:
            continue
        reached, position = 1, start
        for step in steps[1:]:
            nxt = next(
                (i for i in range(position + 1, len(events)) if events[i].event == step.event),
                None,
            )
            if nxt is None or (events[nxt].timestamp - first.timestamp).total_seconds() > window:
                break
            reached, position = reached + 1, nxt
        best = max(best, reached)
    return best


def _pct(value: float) -> str:
    return f"{value * 100:.1f} %"


def _duration(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 60:.0f} minutes"
