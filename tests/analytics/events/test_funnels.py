"""Funnels on hand-written events, on DuckDB and on the ClickHouse SQL path (chDB), with
PostHog's edge cases: repeated step events, equal timestamps, the window measured from step 1,
exclusions, strict and any order, first-touch breakdown, a date range."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from intuitivus_flow.analytics.funnels import run_funnel
from intuitivus_flow.analytics.schemas import FunnelQuery
from tests.analytics.events.conftest import T0, Loaded

W = 100  # window seconds in these tests


def funnel(events: Loaded, steps: list[str], **options: object) -> list[int]:
    body: dict[str, object] = {"steps": [{"event": s} for s in steps], "window_seconds": W}
    query = FunnelQuery.model_validate(body | options)
    return [s.count for s in run_funnel(events.store, events.workspace_id, query).steps]


class TestSequential:
    def test_counts_conversions_drop_off_and_times(self, events: Loaded) -> None:
        events.add(
            [
                ("p1", "a", 0),
                ("p1", "b", 10),
                ("p1", "c", 30),
                ("p2", "a", 0),
                ("p2", "b", 20),
                ("p3", "a", 0),
                ("p3", "x", 5),
                ("p4", "b", 0),  # never did step 1: not in the funnel
            ]
        )
        query = FunnelQuery.model_validate(
            {"steps": [{"event": "a"}, {"event": "b"}, {"event": "c"}], "window_seconds": W}
        )
        steps = run_funnel(events.store, events.workspace_id, query).steps
        assert [s.count for s in steps] == [3, 2, 1]
        assert [s.dropped for s in steps] == [0, 1, 1]
        assert [s.conversion_from_first for s in steps] == [
            1.0,
            pytest.approx(2 / 3, abs=1e-6),
            pytest.approx(1 / 3, abs=1e-6),
        ]
        assert [s.conversion_from_previous for s in steps] == [
            1.0,
            pytest.approx(2 / 3, abs=1e-6),
            0.5,
        ]
        # a -> b took 10 s and 20 s; b -> c took 20 s
        assert (steps[1].median_seconds_to_convert, steps[1].mean_seconds_to_convert) == (
            15.0,
            15.0,
        )
        assert (steps[2].median_seconds_to_convert, steps[2].mean_seconds_to_convert) == (
            20.0,
            20.0,
        )
        assert steps[0].median_seconds_to_convert is None

    def test_repeated_step_event_needs_two_events(self, events: Loaded) -> None:
        events.add(
            [
                ("once", "a", 0),
                ("twice", "a", 0),
                ("twice", "a", 50),
                ("same_time", "a", 0),
                ("same_time", "a", 0),
            ]
        )
        assert funnel(events, ["a", "a"]) == [3, 2]
        assert funnel(events, ["a", "a", "a"]) == [3, 2, 0]

    def test_equal_timestamps_count_as_in_order(self, events: Loaded) -> None:
        events.add([("p", "b", 0), ("p", "a", 0), ("q", "a", 0), ("q", "b", 0)])
        assert funnel(events, ["a", "b"]) == [2, 2]

    def test_whole_chain_must_fit_in_the_window_from_step_one(self, events: Loaded) -> None:
        events.add(
            [
                ("late_c", "a", 0),
                ("late_c", "b", 90),
                ("late_c", "c", 110),  # c 20 s after b
                ("edge", "a", 0),
                ("edge", "b", 100),  # exactly at the window's end: counted
                ("late", "a", 0),
                ("late", "b", 101),
            ]
        )
        assert funnel(events, ["a", "b", "c"]) == [3, 2, 0]

    def test_every_step_one_event_starts_an_attempt(self, events: Loaded) -> None:
        # The first a's window misses b; the second a's catches it.
        events.add([("p", "a", 0), ("p", "a", 200), ("p", "b", 250)])
        steps = run_funnel(
            events.store,
            events.workspace_id,
            FunnelQuery.model_validate(
                {"steps": [{"event": "a"}, {"event": "b"}], "window_seconds": W}
            ),
        ).steps
        assert [s.count for s in steps] == [1, 1]
        assert steps[1].median_seconds_to_convert == 50.0

    def test_property_filters_on_steps(self, events: Loaded) -> None:
        events.add(
            [
                ("p", "a", 0),
                ("p", "buy", 5, {"plan": "pro", "seats": 3}),
                ("q", "a", 0),
                ("q", "buy", 5, {"plan": "free", "seats": 3}),
            ]
        )
        steps = [{"event": "a"}, {"event": "buy", "properties": {"plan": "pro", "seats": 3}}]
        query = FunnelQuery.model_validate({"steps": steps, "window_seconds": W})
        result = run_funnel(events.store, events.workspace_id, query)
        assert [s.count for s in result.steps] == [2, 1]

    def test_other_workspaces_events_are_invisible(self, events: Loaded) -> None:
        events.add([("p", "a", 0), ("p", "b", 5)])
        other = Loaded(events.store).add([("p", "a", 0), ("p", "b", 5), ("z", "a", 0)])
        assert funnel(events, ["a", "b"]) == [1, 1]
        assert funnel(other, ["a", "b"]) == [2, 1]


def test_merged_identity_is_one_person(events: Loaded) -> None:
    # steps done anonymously, then under the identified id: one person, one chain (the
    # person key is stored per event on DuckDB and must follow the merge as the id does)
    events.add([("anon-1", "a", 0), ("anon-1", "b", 10), ("u1", "c", 20), ("u2", "a", 0)])
    assert funnel(events, ["a", "b", "c"]) == [2, 1, 0]
    events.store.add_aliases(events.workspace_id, {"anon-1": "u1"})
    assert funnel(events, ["a", "b", "c"]) == [2, 1, 1]


class TestOrders:
    def test_strict_forbids_other_events_between_steps(self, events: Loaded) -> None:
        events.add(
            [
                ("p", "a", 0),
                ("p", "x", 1),
                ("p", "b", 2),
                ("q", "a", 0),
                ("q", "b", 2),
            ]
        )
        assert funnel(events, ["a", "b"], order="strict") == [2, 1]
        assert funnel(events, ["a", "b"], order="sequential") == [2, 2]

    def test_any_order(self, events: Loaded) -> None:
        events.add(
            [
                ("p", "b", 0),
                ("p", "a", 10),  # both steps, reversed
                ("q", "c", 0),  # one step
                ("r", "a", 0),
                ("r", "c", 150),  # c outside the window of a
            ]
        )
        assert funnel(events, ["a", "b", "c"], order="any") == [3, 1, 0]
        assert funnel(events, ["a", "b", "c"], order="sequential") == [2, 0, 0]


class TestExclusionsBreakdownDates:
    def test_exclusion_between_steps_voids_the_attempt(self, events: Loaded) -> None:
        events.add(
            [
                ("excluded", "a", 0),
                ("excluded", "x", 5),
                ("excluded", "b", 10),
                ("after", "a", 0),
                ("after", "b", 10),
                ("after", "x", 15),
                ("plain", "a", 0),
                ("dropped_then_x", "a", 0),
                ("dropped_then_x", "x", 50),
            ]
        )
        exclusion = {"exclusions": [{"event": "x", "from_step": 1, "to_step": 2}]}
        assert funnel(events, ["a", "b"], **exclusion) == [2, 1]
        assert funnel(events, ["a", "b"]) == [4, 2]

    def test_breakdown_is_first_touch(self, events: Loaded) -> None:
        events.add(
            [
                ("p", "a", 0, {"src": "ads"}),
                ("p", "a", 5, {"src": "mail"}),
                ("p", "b", 8),
                ("q", "a", 0, {"src": "mail"}),
                ("r", "a", 0),
            ]
        )
        query = FunnelQuery.model_validate(
            {"steps": [{"event": "a"}, {"event": "b"}], "window_seconds": W, "breakdown": "src"}
        )
        result = run_funnel(events.store, events.workspace_id, query)
        by_value = {b.value: [s.count for s in b.steps] for b in result.breakdown or []}
        assert by_value == {"ads": [1, 1], "mail": [1, 0], None: [1, 0]}
        assert [s.count for s in result.steps] == [3, 1]

    def test_date_range_applies_to_step_one(self, events: Loaded) -> None:
        events.add(
            [
                ("before", "a", -10),
                ("before", "b", 1),
                ("inside", "a", 50),
                ("inside", "b", 130),  # converts after date_to: counted
            ]
        )
        options = {
            "date_from": T0.isoformat(),
            "date_to": (T0 + timedelta(seconds=60)).isoformat(),
        }
        assert funnel(events, ["a", "b"], **options) == [1, 1]


class TestRefused:
    @pytest.mark.parametrize("count", [1, 21, 30])
    def test_step_counts_outside_2_to_20(self, count: int) -> None:
        with pytest.raises(ValidationError, match="2 to 20 steps"):
            FunnelQuery.model_validate({"steps": [{"event": "a"}] * count})

    def test_timestamp_without_offset(self) -> None:
        with pytest.raises(ValidationError, match="UTC offset"):
            FunnelQuery.model_validate(
                {"steps": [{"event": "a"}, {"event": "b"}], "date_from": "2026-01-01T00:00:00"}
            )

    def test_exclusion_past_the_last_step(self) -> None:
        with pytest.raises(ValidationError, match="past the last step"):
            FunnelQuery.model_validate(
                {
                    "steps": [{"event": "a"}, {"event": "b"}],
                    "exclusions": [{"event": "x", "from_step": 1, "to_step": 3}],
                }
            )
