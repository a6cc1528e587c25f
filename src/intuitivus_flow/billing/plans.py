"""The plans on sale and what each allows, defined in code (prices change with a deploy).

A workspace's plan is the plan of its subscription while that subscription is live (trialing,
active or past_due); with no subscription, or a canceled one, the workspace is on `free`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PlanId(StrEnum):
    free = "free"
    starter = "starter"
    pro = "pro"


class Limit(StrEnum):
    agents = "agents"
    members = "members"
    monthly_messages = "monthly_messages"


@dataclass(frozen=True, slots=True)
class Plan:
    id: PlanId
    name: str
    # Monthly price in minor units (cents) of `currency`.
    price_minor: int
    currency: str
    trial_days: int
    max_agents: int
    max_members: int
    max_monthly_messages: int

    def limit(self, which: Limit) -> int:
        return {
            Limit.agents: self.max_agents,
            Limit.members: self.max_members,
            Limit.monthly_messages: self.max_monthly_messages,
        }[which]


# Free is generous enough to try every feature with a small team; paid plans scale the limits.
PLANS: dict[PlanId, Plan] = {
    PlanId.free: Plan(PlanId.free, "Free", 0, "USD", 0, 5, 5, 1_000),
    PlanId.starter: Plan(PlanId.starter, "Starter", 2_900, "USD", 14, 20, 10, 10_000),
    PlanId.pro: Plan(PlanId.pro, "Pro", 9_900, "USD", 14, 100, 50, 100_000),
}

DEFAULT_PLAN = PlanId.free


def get_plan(plan_id: str) -> Plan:
    """The plan with this id; an id no longer on sale falls back to the default plan."""
    try:
        return PLANS[PlanId(plan_id)]
    except ValueError:
        return PLANS[DEFAULT_PLAN]


def plan_named_in(text: str | None) -> PlanId | None:
    """A plan id found as a word in a product or plan name ("Flow Pro (yearly)" -> pro)."""
    if not text:
        return None
    words = {word.strip("()[]-_.,:;").lower() for word in text.split()}
    for plan_id in (PlanId.pro, PlanId.starter):
        if plan_id.value in words:
            return plan_id
    return None
