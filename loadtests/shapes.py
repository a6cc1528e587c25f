"""Locust's `LoadTestShape` over a stage table (loadtests/stages.py holds the arithmetic)."""

from __future__ import annotations

from locust import LoadTestShape

from loadtests.stages import Profile


class StagesShape(LoadTestShape):
    abstract = True
    profile: Profile

    def tick(self) -> tuple[int, float] | None:
        elapsed = float(self.get_run_time())  # type: ignore[no-untyped-call]
        users = self.profile.users_at(elapsed)
        if users is None:
            return None  # the last stage is over: Locust stops the run
        return users, self.profile.spawn_rate_at(elapsed)


def shape_for(profile: Profile) -> type[StagesShape]:
    return type(
        f"{profile.name.title()}Shape", (StagesShape,), {"profile": profile, "abstract": False}
    )
