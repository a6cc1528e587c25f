"""Paths on hand-written events, on both engines: sessions split after 30 minutes,
consecutive repeats collapsed, transitions from a start and toward an end, drop-offs."""

from __future__ import annotations

from intuitivus_flow.analytics.paths import run_paths
from intuitivus_flow.analytics.schemas import PathQuery
from tests.analytics.events.conftest import Loaded

MIN = 60.0


def moves(events: Loaded, **options: object) -> dict[tuple[int, str, str], tuple[int, int]]:
    result = run_paths(events.store, events.workspace_id, PathQuery.model_validate(options))
    return {(t.step, t.source, t.target): (t.persons, t.sessions) for t in result.transitions}


def journeys(events: Loaded, **options: object) -> dict[tuple[str, ...], int]:
    result = run_paths(events.store, events.workspace_id, PathQuery.model_validate(options))
    return {tuple(p.events): p.sessions for p in result.top_paths}


class TestSessions:
    def test_split_after_thirty_minutes_and_collapse_repeats(self, events: Loaded) -> None:
        events.add(
            [
                ("p", "home", 0),
                ("p", "home", 1 * MIN),
                ("p", "pricing", 2 * MIN),
                ("p", "signup", 40 * MIN),  # 38 minutes later: a new session
                ("q", "home", 0),
                ("q", "pricing", 29 * MIN),
                ("q", "pricing", 58 * MIN),
            ]
        )
        assert moves(events) == {(1, "home", "pricing"): (2, 2)}
        assert journeys(events) == {("home", "pricing"): 2, ("signup",): 1}

    def test_from_a_start_event(self, events: Loaded) -> None:
        events.add(
            [
                ("p", "land", 0),
                ("p", "home", 1),
                ("p", "pricing", 2),
                ("p", "signup", 3),
                ("q", "home", 0),
                ("q", "docs", 1),
                ("r", "home", 0),
                ("r", "pricing", 1),
                ("r", "home", 2),
            ]
        )
        assert moves(events, start_event="home", steps=2) == {
            (1, "home", "pricing"): (2, 2),
            (1, "home", "docs"): (1, 1),
            (2, "pricing", "signup"): (1, 1),
            (2, "pricing", "home"): (1, 1),
        }
        assert journeys(events, start_event="home", steps=1) == {
            ("home", "pricing"): 2,
            ("home", "docs"): 1,
        }

    def test_toward_an_end_event(self, events: Loaded) -> None:
        events.add(
            [
                ("p", "home", 0),
                ("p", "pricing", 1),
                ("p", "signup", 2),
                ("q", "docs", 0),
                ("q", "signup", 1),
                ("q", "home", 2),
                ("r", "home", 0),
            ]
        )
        assert moves(events, end_event="signup") == {
            (1, "pricing", "signup"): (1, 1),
            (2, "home", "pricing"): (1, 1),
            (1, "docs", "signup"): (1, 1),
        }


class TestDropOffs:
    def test_paths_of_persons_who_stopped_at_a_step(self, events: Loaded) -> None:
        events.add(
            [
                ("p", "signup", 0),
                ("p", "docs", 10),
                ("p", "help", 20),
                ("q", "signup", 0),
                ("q", "agent", 10),
                ("r", "docs", 0),
                ("r", "signup", 5),
                ("r", "pricing", 6),
            ]
        )
        funnel = {"steps": [{"event": "signup"}, {"event": "agent"}]}
        assert moves(events, funnel=funnel, dropped_at_step=1) == {
            (1, "signup", "docs"): (1, 1),
            (2, "docs", "help"): (1, 1),
            (1, "signup", "pricing"): (1, 1),
        }
