"""How the step editor shows steps: one line per step, the values of its edit form, and the
steps a branch or a new step may name (by id, labelled with their current positions)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from intuitivus_flow.campaigns.automation.models import StepKind
from intuitivus_flow.campaigns.automation.schemas import (
    BranchStep,
    SendMessageStep,
    SendTemplateStep,
    StepRead,
    StepSpec,
    StepSpecs,
    WaitStep,
)
from intuitivus_flow.web.forms import FormState, PageState

STEP_TITLES = {
    StepKind.send_template: "Send a WhatsApp template",
    StepKind.send_message: "Send a message from the agent",
    StepKind.wait: "Wait",
    StepKind.branch: "Branch on a reply or a conversion",
}
# Largest first: a wait is shown in the largest unit that divides it exactly.
WAIT_UNITS = {"days": 86_400, "hours": 3_600, "minutes": 60, "seconds": 1}


@dataclass(frozen=True, slots=True)
class StepView:
    step: StepRead
    label: str  # one line about the step
    form: FormState  # its edit form: what was posted when saving failed, else its settings
    later: list[tuple[str, str]]  # (id, "Step n: label") of the steps a branch here may name
    targets: dict[str, int | None]  # a branch's targets as positions, for "yes → step n"


def step_views(state: PageState, steps: list[StepRead]) -> list[StepView]:
    specs = StepSpecs.validate_python([{"kind": step.kind, **step.config} for step in steps])
    labels = [describe(spec) for spec in specs]
    choices = [
        (str(step.id), f"Step {step.position}: {label}")
        for step, label in zip(steps, labels, strict=True)
    ]
    positions = {step.id: step.position for step in steps}
    return [
        StepView(
            step=step,
            label=label,
            form=state.forms.get(f"step-{step.id}") or FormState(values=step_values(spec)),
            later=choices[index + 1 :],
            targets={
                name: positions.get(target) if target else None
                for name, target in _targets(spec).items()
            },
        )
        for index, (step, spec, label) in enumerate(zip(steps, specs, labels, strict=True))
    ]


def _targets(spec: StepSpec) -> dict[str, uuid.UUID | None]:
    if isinstance(spec, BranchStep):
        return {"if_true": spec.if_true, "if_false": spec.if_false}
    return {}


def step_values(spec: StepSpec) -> dict[str, str]:
    if isinstance(spec, SendTemplateStep):
        return {
            "template": spec.template,
            "language": spec.language,
            "parameters": "\n".join(spec.parameters),
        }
    if isinstance(spec, SendMessageStep):
        return {"text": spec.text}
    if isinstance(spec, WaitStep):
        amount, unit = in_largest_unit(spec.seconds)
        return {"duration": str(amount), "unit": unit}
    return {
        "on": spec.on,
        "if_true": str(spec.if_true or ""),
        "if_false": str(spec.if_false or ""),
    }


def in_largest_unit(seconds: int) -> tuple[int, str]:
    for unit, size in WAIT_UNITS.items():
        if seconds % size == 0:
            return seconds // size, unit
    return seconds, "seconds"  # unreachable: every whole number of seconds divides by 1


def describe(spec: StepSpec) -> str:
    """One line about a step, for the list and the "continue at" choices."""
    if isinstance(spec, SendTemplateStep):
        return f"Send template “{spec.template}” ({spec.language})"
    if isinstance(spec, SendMessageStep):
        text = spec.text if len(spec.text) <= 60 else f"{spec.text[:59]}…"
        return f"Send message “{text}”"
    if isinstance(spec, WaitStep):
        amount, unit = in_largest_unit(spec.seconds)
        return f"Wait {amount} {unit.removesuffix('s') if amount == 1 else unit}"
    subject = "the contact replied" if spec.on == "reply" else "the contact converted"
    return f"Branch: has {subject}?"
