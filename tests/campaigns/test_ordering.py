"""Where branches may continue, on an ordered list of steps: later steps of the campaign only."""

from __future__ import annotations

import uuid

from intuitivus_flow.campaigns.automation.ordering import Placed, branch_problems, moved

A, B, C, D = (uuid.uuid4() for _ in range(4))


def plain(step_id: uuid.UUID) -> Placed:
    return Placed(step_id, {})


def branch(step_id: uuid.UUID, if_true: uuid.UUID | None, if_false: uuid.UUID | None) -> Placed:
    return Placed(step_id, {"if_true": if_true, "if_false": if_false})


def test_forward_targets_and_stops_are_fine() -> None:
    assert branch_problems([branch(A, C, None), plain(B), plain(C)]) == []


def test_each_target_that_is_not_later_is_named_with_its_branch_and_field() -> None:
    problems = branch_problems([plain(A), branch(B, A, B), plain(C)])
    assert [(p.step_id, p.position, p.field) for p in problems] == [
        (B, 2, "if_true"),
        (B, 2, "if_false"),
    ]
    assert problems[0].message == "Must name a later step (or stop)"


def test_a_target_outside_the_list() -> None:
    (problem,) = branch_problems([branch(A, None, D), plain(B)])
    assert (problem.field, problem.message) == ("if_false", "Names no step of this campaign")


def test_a_move_is_checked_on_the_new_order() -> None:
    order = [plain(A), branch(B, D, None), plain(C), plain(D)]
    assert [step.id for step in moved(order, D, 3)] == [A, B, D, C]
    assert branch_problems(moved(order, D, 3)) == []
    (problem,) = branch_problems(moved(order, D, 1))  # the target before its branch
    assert (problem.step_id, problem.position) == (B, 3)
