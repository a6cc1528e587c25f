"""One-step edits of an automation: insert, replace, move and remove, as pure list changes.

The ordered list is stored whole (`automation.replace_steps`), so an edit of one step is a new
list. Branches name where a contact continues by position; when steps move, are inserted before
a target or are removed, every branch keeps pointing at the same step it named before.
Positions are 1-based, as people and the API count them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from intuitivus_flow.campaigns.schemas import BranchStep, StepSpec
from intuitivus_flow.kit.errors import InvalidInput

TARGETS = ("if_true", "if_false")


def insert(steps: Sequence[StepSpec], spec: StepSpec, *, at: int) -> list[StepSpec]:
    """`spec` becomes step `at` (1 to len + 1). Its own targets name steps by their positions
    before the insert, like every other branch's, and all of them follow those steps."""
    _check_position(at, len(steps) + 1)
    shifted = {old: old + 1 if old >= at else old for old in range(1, len(steps) + 1)}
    result = [retarget(step, shifted) for step in steps]
    result.insert(at - 1, retarget(spec, shifted))
    return result


def replace(steps: Sequence[StepSpec], position: int, spec: StepSpec) -> list[StepSpec]:
    _check_position(position, len(steps))
    result = list(steps)
    result[position - 1] = spec
    return result


def move(steps: Sequence[StepSpec], position: int, *, to: int) -> list[StepSpec]:
    _check_position(position, len(steps))
    _check_position(to, len(steps))
    order = list(range(1, len(steps) + 1))
    order.insert(to - 1, order.pop(position - 1))
    new_position = {old: new for new, old in enumerate(order, start=1)}
    return [retarget(steps[old - 1], new_position) for old in order]


def remove(steps: Sequence[StepSpec], position: int) -> list[StepSpec]:
    """Without step `position`; refused while a branch continues at it, because where those
    contacts should go instead is the person's decision, not ours."""
    _check_position(position, len(steps))
    for index, step in enumerate(steps, start=1):
        if isinstance(step, BranchStep) and position in (step.if_true, step.if_false):
            raise InvalidInput(
                f"Step {index} (a branch) continues at this step; change that branch first",
                field="position",
            )
    shifted = {old: old - 1 if old > position else old for old in range(1, len(steps) + 1)}
    return [
        retarget(step, shifted) for index, step in enumerate(steps, start=1) if index != position
    ]


def retarget(step: StepSpec, new_position: Mapping[int, int]) -> StepSpec:
    """The step with its branch targets renumbered (positions not in the map are kept, so the
    list's own validation still reports them)."""
    if not isinstance(step, BranchStep):
        return step
    changes = {
        name: new_position.get(target, target)
        for name in TARGETS
        if (target := getattr(step, name)) is not None
    }
    return step.model_copy(update=changes)


def _check_position(position: int, highest: int) -> None:
    if not 1 <= position <= highest:
        raise InvalidInput(f"Choose a position from 1 to {highest}", field="position")
