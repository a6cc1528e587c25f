"""Where branches may continue: the rule on an ordered list of steps, as structured problems.

A branch continues at a later step of its own campaign, or stops (a contact never does a step
twice, so a way back could never run). Each problem names the branch by id and the field
(`if_true`/`if_false`), so every caller says it in its own terms: a whole list by the index in
its body, a one-step edit by the edited step's field or by the branch that a move would break.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Placed:
    """A step as the order sees it: its id and, for a branch, its targets by field."""

    id: uuid.UUID
    targets: Mapping[str, uuid.UUID | None]


@dataclass(frozen=True, slots=True)
class BranchProblem:
    step_id: uuid.UUID
    position: int  # the branch's position in the order checked (1-based)
    field: str
    message: str


def branch_problems(order: Sequence[Placed]) -> list[BranchProblem]:
    positions = {step.id: position for position, step in enumerate(order, start=1)}
    problems = []
    for position, step in enumerate(order, start=1):
        for field, target in step.targets.items():
            if target is None:
                continue
            at = positions.get(target)
            if at is None:
                message = "Names no step of this campaign"
            elif at <= position:
                message = "Must name a later step (or stop)"
            else:
                continue
            problems.append(BranchProblem(step.id, position, field, message))
    return problems


def moved(order: Sequence[Placed], step_id: uuid.UUID, to: int) -> list[Placed]:
    """The order with the step at position `to` (1-based) and the others closing up."""
    rest = [step for step in order if step.id != step_id]
    (step,) = [step for step in order if step.id == step_id]
    rest.insert(to - 1, step)
    return rest
