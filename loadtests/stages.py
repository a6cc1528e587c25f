"""Load profiles as tables of k6-style stages: each stage moves the user count linearly to its
target over its duration. Pure arithmetic (no Locust import), so the shapes are unit-tested.

`PLAN` is the plan's milestone-4 profile; `HEADLINE` its 1000-simultaneous-users figure.
`quick()` scales a profile down to seconds and a tenth of the users for the CI smoke run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class Stage:
    seconds: float
    target: int  # users at the end of the stage


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    stages: tuple[Stage, ...]
    scenario: str  # the scenario run when the command line names none
    rate_per_user: float  # scheduled requests per second of each user (open model)

    @property
    def seconds(self) -> float:
        return sum(stage.seconds for stage in self.stages)

    @property
    def peak_users(self) -> int:
        return max(stage.target for stage in self.stages)

    def users_at(self, elapsed: float) -> int | None:
        """Users wanted `elapsed` seconds into the run; None once the last stage is over."""
        start_users = 0
        stage_start = 0.0
        for stage in self.stages:
            if elapsed < stage_start + stage.seconds:
                progress = (elapsed - stage_start) / stage.seconds
                return round(start_users + (stage.target - start_users) * progress)
            start_users = stage.target
            stage_start += stage.seconds
        return None

    def spawn_rate_at(self, elapsed: float) -> float:
        """Users started (or stopped) per second in the stage at `elapsed`: its slope, so
        Locust follows the ramp instead of jumping to the target; at least 1."""
        start_users = 0
        stage_start = 0.0
        for stage in self.stages:
            if elapsed < stage_start + stage.seconds:
                return max(1.0, abs(stage.target - start_users) / stage.seconds)
            start_users = stage.target
            stage_start += stage.seconds
        return 1.0

    def scaled(self, *, time: float, users: float) -> Profile:
        stages = tuple(
            Stage(
                seconds=max(1.0, stage.seconds * time),
                target=math.ceil(stage.target * users) if stage.target else 0,
            )
            for stage in self.stages
        )
        return replace(self, stages=stages)


MINUTE = 60.0

# The plan (milestone 4): ramp to 100 users over 2 min, hold 5 min, ramp to 200, hold 5 min,
# ramp down. The plan gives no length for the second ramp and the ramp down: 2 min and 1 min.
PLAN = Profile(
    name="stages",
    stages=(
        Stage(2 * MINUTE, 100),
        Stage(5 * MINUTE, 100),
        Stage(2 * MINUTE, 200),
        Stage(5 * MINUTE, 200),
        Stage(1 * MINUTE, 0),
    ),
    scenario="mix",
    rate_per_user=1.0,
)

# "Load test: 1000 simultaneous users", each at one request a second: 1,000 requests/s offered.
HEADLINE = Profile(
    name="headline",
    stages=(Stage(30, 1000), Stage(60, 1000)),
    scenario="dashboard",
    rate_per_user=1.0,
)

PROFILES = {profile.name: profile for profile in (PLAN, HEADLINE)}


def quick(profile: Profile) -> Profile:
    """The CI smoke variant: minutes become seconds (the headline's seconds become tenths) and
    a twentieth of the users, so the whole run takes seconds (and 10 sign-ins, not 200)."""
    if profile.name == HEADLINE.name:
        return profile.scaled(time=0.1, users=0.05)
    return profile.scaled(time=1 / MINUTE, users=0.05)
