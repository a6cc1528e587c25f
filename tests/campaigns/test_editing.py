"""One-step edits of an automation as pure list changes: branches keep naming the same steps."""

from __future__ import annotations

from typing import Any

import pytest

from intuitivus_flow.campaigns import editing
from intuitivus_flow.campaigns.schemas import BranchStep, StepSpec, StepSpecs
from intuitivus_flow.kit.errors import InvalidInput


def steps(*items: dict[str, Any]) -> list[StepSpec]:
    return StepSpecs.validate_python(list(items))


def dump(specs: list[StepSpec]) -> list[dict[str, Any]]:
    return [spec.model_dump(mode="json") for spec in specs]


def template(name: str) -> dict[str, Any]:
    return {"kind": "send_template", "template": name}


def branch(if_true: int | None, if_false: int | None = None) -> dict[str, Any]:
    return {"kind": "branch", "on": "reply", "if_true": if_true, "if_false": if_false}


def names(specs: list[StepSpec]) -> list[object]:
    """Templates by name, branches as their (if_true, if_false) targets."""
    return [
        (spec.if_true, spec.if_false)
        if isinstance(spec, BranchStep)
        else spec.model_dump()["template"]
        for spec in specs
    ]


class TestInsert:
    def test_later_steps_move_down_and_targets_follow(self) -> None:
        current = steps(branch(3, 2), template("a"), template("b"))
        (new,) = steps(template("new"))
        result = editing.insert(current, new, at=2)
        assert names(result) == [(4, 3), "new", "a", "b"]

    def test_the_new_branch_names_steps_by_their_positions_before_the_insert(self) -> None:
        current = steps(template("a"), template("b"))
        (new,) = steps(branch(2))
        assert names(editing.insert(current, new, at=2)) == ["a", (3, None), "b"]

    @pytest.mark.parametrize("at", [0, 4])
    def test_outside_the_list(self, at: int) -> None:
        (new,) = steps(template("x"))
        with pytest.raises(InvalidInput, match="from 1 to 3"):
            editing.insert(steps(template("a"), template("b")), new, at=at)


class TestMove:
    def test_targets_follow_the_steps_they_name(self) -> None:
        current = steps(branch(3, 4), template("a"), template("b"), template("c"))
        moved = editing.move(current, 4, to=2)  # c before a
        assert names(moved) == [(4, 2), "c", "a", "b"]

    def test_down_and_up_are_inverse(self) -> None:
        current = steps(template("a"), branch(4), template("b"), template("c"))
        assert dump(editing.move(editing.move(current, 1, to=3), 3, to=1)) == dump(current)


class TestRemove:
    def test_later_steps_move_up(self) -> None:
        current = steps(branch(3), template("a"), template("b"))
        assert names(editing.remove(current, 2)) == [(2, None), "b"]

    def test_a_step_a_branch_continues_at_stays(self) -> None:
        current = steps(template("a"), branch(None, 3), template("b"))
        with pytest.raises(InvalidInput, match="Step 2 \\(a branch\\) continues at this step"):
            editing.remove(current, 3)


def test_replace_keeps_the_rest() -> None:
    current = steps(template("a"), template("b"))
    (new,) = steps(template("c"))
    assert names(editing.replace(current, 2, new)) == ["a", "c"]
