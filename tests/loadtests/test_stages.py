"""The load profiles: the plan's stage table, linear ramps, and the quick variant's scale."""

from __future__ import annotations

import pytest
from loadtests.stages import HEADLINE, MINUTE, PLAN, Profile, Stage, quick


class TestPlanStages:
    def test_the_plans_table(self) -> None:
        assert [(s.seconds / MINUTE, s.target) for s in PLAN.stages] == [
            (2, 100),
            (5, 100),
            (2, 200),
            (5, 200),
            (1, 0),
        ]
        assert PLAN.peak_users == 200
        assert PLAN.seconds == 15 * MINUTE

    @pytest.mark.parametrize(
        ("elapsed", "users"),
        [(0, 0), (60, 50), (119, 99), (120, 100), (400, 100), (480, 150), (540, 200), (870, 100)],
    )
    def test_users_follow_linear_ramps(self, elapsed: float, users: int) -> None:
        assert PLAN.users_at(elapsed) == users

    def test_the_run_ends_after_the_last_stage(self) -> None:
        assert PLAN.users_at(PLAN.seconds - 0.01) == 0
        assert PLAN.users_at(PLAN.seconds) is None

    def test_spawn_rate_is_the_ramps_slope_and_at_least_one(self) -> None:
        assert PLAN.spawn_rate_at(30) == 1.0  # 100 users in 120 s: under one a second
        assert PLAN.spawn_rate_at(200) == 1.0  # a hold: nothing to spawn
        assert HEADLINE.spawn_rate_at(10) == pytest.approx(1000 / 30)
        assert PLAN.spawn_rate_at(14.5 * MINUTE) == pytest.approx(200 / 60)


class TestHeadline:
    def test_a_thousand_simultaneous_users_at_one_request_a_second(self) -> None:
        assert HEADLINE.peak_users == 1000
        assert HEADLINE.peak_users * HEADLINE.rate_per_user == 1000
        assert HEADLINE.users_at(HEADLINE.seconds - 1) == 1000


class TestQuick:
    @pytest.mark.parametrize("profile", [PLAN, HEADLINE])
    def test_every_stage_scales_down_to_seconds(self, profile: Profile) -> None:
        small = quick(profile)
        assert len(small.stages) == len(profile.stages)
        assert small.seconds <= 20
        assert 0 < small.peak_users <= profile.peak_users / 10

    def test_the_plans_shape_is_kept(self) -> None:
        small = quick(PLAN)
        assert [s.seconds for s in small.stages] == [2, 5, 2, 5, 1]
        assert [s.target for s in small.stages] == [5, 5, 10, 10, 0]

    def test_a_stage_is_never_shorter_than_a_second(self) -> None:
        tiny = Profile("t", (Stage(10, 5),), "dashboard", 1.0).scaled(time=0.01, users=1)
        assert tiny.stages == (Stage(1.0, 5),)
