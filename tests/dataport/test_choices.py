"""Every enum-typed column an archive can fill is checked against its enum while the row is
validated: a value outside it is a field problem, never a statement the typed column refuses."""

from __future__ import annotations

from sqlalchemy import Enum

from intuitivus_flow.dataport import registry
from intuitivus_flow.dataport.codec import validate_row


def test_every_enum_column_of_an_archive_is_a_checked_choice() -> None:
    unchecked = [
        f"{spec.name}.{name}"
        for spec in registry.ENTITIES
        for name in spec.fields
        if isinstance(spec.column(name).type, Enum) and name not in spec.choices
    ]
    assert unchecked == []


def test_an_unknown_pause_reason_is_a_field_problem() -> None:
    spec = registry.get("campaigns")
    assert spec is not None
    values, problems = validate_row(spec, {"pause_reason": "bogus"})
    assert values == {}
    assert "pause_reason" in {field for field, _ in problems}
    _, problems = validate_row(spec, {"pause_reason": "daily_budget"})
    assert "pause_reason" not in {field for field, _ in problems}
